"""Circuit breaker around the bus's database work: closed, open, half-open.

Closed: calls run; consecutive outage errors are counted and the breaker
opens at CIRCUIT_BREAKER_THRESHOLD. Open: calls raise CircuitOpenError at once,
without touching the database, until CIRCUIT_BREAKER_TIMEOUT_SECS have passed.
Half-open: exactly one call (the probe) runs; its success closes the breaker,
its outage error opens it again. Threshold, timeout and the on/off switch are
taken from the configuration snapshot each call brings, so admin overrides
apply live. Only failures to reach or use the database count (OUTAGE_ERRORS:
connection refused or lost, timeouts). Any other database error (DataError,
IntegrityError, ProgrammingError...) comes from the input or the code: it fails
its own call and is no verdict on the database, or a hostile client could
open the breaker for everyone. A bus answer such as NOT_FOUND proves the
database works.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError

from bus.exceptions import BusError, CircuitOpenError
from bus.models import BusEvent
from bus.store import metrics as bus_metrics
from controlplane.config import Config

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# What a database that cannot be reached or used raises (psycopg's connection
# failures and query timeouts arrive as these through Django).
OUTAGE_ERRORS = (OperationalError, InterfaceError)
# Transitions recorded while the database is down wait here until it is back.
MAX_PENDING_EVENTS = 100

P = ParamSpec("P")
T = TypeVar("T")


class CircuitBreaker:
    """A thread-safe circuit breaker with an injectable monotonic clock."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_running = False
        self._pending: list[BusEvent] = []

    @property
    def state(self) -> str:
        """Return the current state: closed, open or half_open."""
        return self._state

    def reset(self, *, clock: Callable[[], float] | None = None) -> None:
        """Close the breaker and forget failures (tests and process start)."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._state, self._failures, self._probe_running = CLOSED, 0, False
            self._pending.clear()

    def call(
        self, config: Config, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run fn through the breaker; raise CircuitOpenError while it is open."""
        if not config.CIRCUIT_BREAKER_ENABLED:
            self._close(reason="breaker disabled")
            return fn(*args, **kwargs)
        self._admit(config.CIRCUIT_BREAKER_TIMEOUT_SECS)
        try:
            result = fn(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            self._failed(config.CIRCUIT_BREAKER_THRESHOLD, exc)
            raise
        except BusError:
            # The database answered (e.g. NOT_FOUND): that is a success here.
            self._succeeded()
            raise
        except BaseException:
            # Not an outage (other database errors included), so no verdict;
            # let the next call probe.
            self._end_probe()
            raise
        self._succeeded()
        return result

    def _admit(self, timeout_secs: float) -> None:
        with self._lock:
            if self._state == OPEN:
                waited = self._clock() - self._opened_at
                if waited < timeout_secs:
                    raise CircuitOpenError(
                        "message bus circuit breaker is open; retry in "
                        f"{timeout_secs - waited:.0f} s"
                    )
                self._transition(HALF_OPEN)
                logger.info("Message bus breaker half-open: probing the database")
            if self._state == HALF_OPEN:
                if self._probe_running:
                    raise CircuitOpenError(
                        "message bus circuit breaker is half-open; a probe is running"
                    )
                self._probe_running = True

    def _failed(self, threshold: int, exc: DatabaseError) -> None:
        with self._lock:
            self._probe_running = False
            if self._state == OPEN:
                return  # a call admitted before the breaker opened
            self._failures += 1
            if self._state == CLOSED and self._failures < threshold:
                logger.warning(
                    "Message bus database error %d of %d before the breaker opens: %s",
                    self._failures,
                    threshold,
                    type(exc).__name__,
                )
                return
            was = self._state
            self._opened_at = self._clock()
            self._transition(OPEN)
            event = self._event(
                BusEvent.Kind.BREAKER_OPENED,
                {"from": was, "failures": self._failures, "error": type(exc).__name__},
            )
        logger.warning(
            "Message bus breaker opened after %d database error(s) (%s); results "
            "go inline or get BUS_UNAVAILABLE",
            self._failures,
            type(exc).__name__,
        )
        self._record(event)

    def _succeeded(self) -> None:
        with self._lock:
            self._probe_running = False
            self._failures = 0
            if self._state != HALF_OPEN:
                return
        self._close(reason="probe succeeded")

    def _end_probe(self) -> None:
        with self._lock:
            self._probe_running = False

    def _close(self, *, reason: str) -> None:
        with self._lock:
            if self._state == CLOSED:
                return
            was = self._state
            self._failures, self._probe_running = 0, False
            self._transition(CLOSED)
            event = self._event(
                BusEvent.Kind.BREAKER_CLOSED, {"from": was, "reason": reason}
            )
        logger.info("Message bus breaker closed (%s)", reason)
        self._record(event)

    def _transition(self, state: str) -> None:
        self._state = state
        bus_metrics.breaker_transitions_total.labels(state=state).inc()

    def _event(self, kind: str, detail: dict) -> BusEvent:
        detail["at"] = datetime.now(UTC).isoformat()
        return BusEvent(kind=kind, detail=detail)

    def _record(self, event: BusEvent) -> None:
        """Write the event with any that waited for the database to come back."""
        with self._lock:
            self._pending.append(event)
            del self._pending[:-MAX_PENDING_EVENTS]
            batch = list(self._pending)
        try:
            BusEvent.objects.bulk_create(batch)
        except DatabaseError:
            # Expected while the database is down: keep them for the next try.
            logger.warning(
                "Cannot record %d breaker event(s) yet; kept until the database "
                "answers",
                len(batch),
                exc_info=True,
            )
            return
        with self._lock:
            self._pending = [e for e in self._pending if e not in batch]
