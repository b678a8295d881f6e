"""A gateway's shutdown: drain its calls, then close its sessions.

``serving`` runs these through ``Gateway.drain`` and ``Gateway.close_sessions``
when the process is told to stop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bus.gateway.sessions import Session
from bus.protocol import SHUTDOWN_CANCEL_MESSAGE

if TYPE_CHECKING:
    from bus.gateway.pipeline import Gateway

logger = logging.getLogger(__name__)

SHUTDOWN_CANCEL_WAIT_SECS = 5.0


async def drain(gateway: Gateway, grace: float) -> int:
    """Refuse new calls, let running ones finish for `grace` s, cancel the rest.

    Return how many calls were still running after their cancel.
    """
    gateway.draining = True
    pending = set(gateway.tasks)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=grace)
    for call in list(gateway.running.values()):
        call.cancel(SHUTDOWN_CANCEL_MESSAGE)
    if pending:
        await asyncio.wait(pending, timeout=SHUTDOWN_CANCEL_WAIT_SECS)
    gateway.call_log.flush()
    if await gateway.call_history.flush():
        gateway.call_history.abandon()
    return len(pending)


async def close_sessions(gateway: Gateway, code: int) -> None:
    """Close every open connection with a close code (at shutdown)."""
    gateway.revocations.stop()
    # Together: a close may wait for a slow client to read what precedes it.
    await asyncio.gather(
        *(_close(session, code) for session in list(gateway.sessions.values()))
    )


async def _close(session: Session, code: int) -> None:
    try:
        await session.transport.close(code)
    except Exception:
        # Shutdown goes on for the other sessions; this one just drops.
        logger.exception("Cannot close session %s", session.session_id)
