"""A value loaded from the database and kept fresh in every process.

Readers get the last loaded value at once while it was checked within
``interval()`` seconds. After that, one reader reads a cheap version and loads
the value again only when the version changed. Async readers never wait for that
check: they get the last value while one background refresh runs. A database
outage keeps the last known value (``fallback()`` before the first load) and logs
a warning, so the call path survives it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from channels.db import database_sync_to_async
from django.db import DatabaseError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The version of no value or of a fallback: equal to no version read_version
# returns, so the first successful check after an outage loads the value.
_UNKNOWN = object()


class RefreshingSnapshot(Generic[T]):
    """One process's copy of a database-backed value, reloaded when its version moves.

    ``read_version()`` is the cheap check; ``load(version)`` builds the value that
    version names. Rows ``load`` reads may be newer than the version it is given,
    never older, so a change landing in between costs one extra reload, not a
    missed one.
    """

    def __init__(
        self,
        *,
        name: str,
        read_version: Callable[[], Any],
        load: Callable[[Any], T],
        interval: Callable[[], float],
        fallback: Callable[[], T],
    ) -> None:
        self._name = name
        self._read_version = read_version
        self._load = load
        self._interval = interval
        self._fallback = fallback
        self._lock = threading.Lock()
        self._value: T | None = None
        self._version: Any = _UNKNOWN
        self._checked_at = 0.0
        self._refreshing: asyncio.Future[T] | None = None

    @property
    def current(self) -> T | None:
        """Return the last value without any I/O; None before the first load."""
        return self._value

    def get(self) -> T:
        """Return the value, checking its version first when it is stale."""
        value = self._value
        if value is not None and not self._stale():
            return value
        with self._lock:
            # Another thread may have refreshed it while this one waited.
            value = self._value
            if value is not None and not self._stale():
                return value
            return self._refresh()

    async def aget(self) -> T:
        """Return the value from async code without waiting for a refresh.

        Only the first load is awaited. Afterwards the last value is returned at
        once and a stale one is refreshed by at most one background check, so
        callers never queue behind the database (nor all at once, every interval).
        """
        value = self._value
        if value is None:
            return await database_sync_to_async(self.get)()
        if self._stale() and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.ensure_future(database_sync_to_async(self.get)())
            self._refreshing.add_done_callback(self._log_refresh_failure)
        return value

    def invalidate(self) -> None:
        """Make the next read in this process load the value as stored now."""
        # Under the lock, so a refresh running in another thread cannot put back
        # the value it read before the change that made the caller invalidate.
        with self._lock:
            self._value, self._version, self._checked_at = None, _UNKNOWN, 0.0
            self._refreshing = None

    def _stale(self) -> bool:
        return time.monotonic() - self._checked_at >= self._interval()

    def _refresh(self) -> T:
        current, version = self._value, self._version
        try:
            fresh_version = self._read_version()
            if current is not None and fresh_version == version:
                fresh = current
            else:
                fresh, version = self._load(fresh_version), fresh_version
        except DatabaseError:
            # Readers must survive a database outage: keep what they had and try
            # again after the interval.
            logger.warning(
                "Cannot read %s; keeping last known values", self._name, exc_info=True
            )
            fresh = current if current is not None else self._fallback()
        if current is not None and fresh is not current:
            logger.info("Reloaded %s", self._name)
        self._value, self._version = fresh, version
        self._checked_at = time.monotonic()
        return fresh

    def _log_refresh_failure(self, future: asyncio.Future[T]) -> None:
        # get() handles outages itself; anything else is a bug that would
        # otherwise vanish with the task nobody awaits.
        if not future.cancelled() and future.exception() is not None:
            logger.error(
                "Refreshing %s failed", self._name, exc_info=future.exception()
            )
