"""End the open sessions of revoked or expired tokens (PROTOCOL.md "Handshake").

A token is checked when its hello arrives; this watch goes on checking while
sessions are open. Each gateway runs one, from its first session to its last:
every CHECK_INTERVAL_SECS it asks the database which agents of its open
sessions have no active token any more (``AgentToken.objects.active()``, the
one rule of a token's status) and closes their sessions with 4003 through
their transports. Rotating a token keeps the agent's row active (same agent,
new hash), so the session that rotated stays open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from channels.db import database_sync_to_async
from django.db import DatabaseError

from bus.gateway.sessions import Session
from bus.protocol import CloseCode
from controlplane.models import AgentToken

logger = logging.getLogger(__name__)

# The contract closes such sessions within 5 s: a check every 2 s leaves room
# for a slow query and the close itself.
CHECK_INTERVAL_SECS = 2.0


def inactive_agent_ids(agent_ids: set[int]) -> set[int]:
    """Return the agents, of these, without an active token (revoked, expired, gone)."""
    active = AgentToken.objects.active().filter(pk__in=agent_ids)
    return agent_ids - set(active.values_list("pk", flat=True))


class RevocationWatch:
    """One gateway's periodic check of the tokens behind its open sessions."""

    def __init__(
        self, sessions: Mapping[str, Session], *, interval: float = CHECK_INTERVAL_SECS
    ) -> None:
        self.sessions = sessions
        self.interval = interval
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin checking, with the first open session; while running, do nothing."""
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def stop(self) -> None:
        """Stop checking, when the last session has closed or at shutdown."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def check(self) -> int:
        """Close the open sessions whose agent has no active token; return how many."""
        # Anonymous sessions (auth off) have no token that could end.
        watched = [
            session
            for session in self.sessions.values()
            if session.agent.id is not None and not session.closed
        ]
        if not watched:
            return 0
        agent_ids = {session.agent.id for session in watched}
        try:
            ended = await database_sync_to_async(inactive_agent_ids)(agent_ids)
        except DatabaseError:
            # An outage closes nobody: the sessions keep working, and the first
            # check after the database is back ends what was revoked meanwhile.
            logger.warning(
                "Cannot check the tokens of %d open session(s): database unavailable",
                len(watched),
                exc_info=True,
            )
            return 0
        ending = [session for session in watched if session.agent.id in ended]
        await asyncio.gather(*(self._end(session) for session in ending))
        return len(ending)

    async def _end(self, session: Session) -> None:
        # Closed at once for the pipeline: no further event reaches the client,
        # and the next check does not close it again while the close goes out.
        session.closed = True
        logger.info(
            "Closing session %s of agent %s: its token is revoked or expired",
            session.session_id,
            session.agent.name,
        )
        try:
            await session.transport.close(CloseCode.UNAUTHORIZED)
        except Exception:
            # One connection that cannot be closed must not keep the others open.
            logger.exception("Cannot close session %s", session.session_id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                # The task's boundary: a failed check is logged and the next
                # one runs; a dead watch would leave revoked sessions open.
                logger.exception("Checking the tokens of open sessions failed")
