"""The call pipeline, independent of any transport (PROTOCOL.md "call_tool").

A transport opens a session with something that delivers events (see
``sessions.Transport``), hands the pipeline parsed requests and turns the
events it gets back (``events``) into its own frames. Calls belong to the
gateway, not to the connection: they finish after a disconnect and land in
the replay cache, and their slots are released on every path. State lives
behind the seams in ``state`` (capacity, calls in flight, result cache).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bus.gateway import metrics, shutdown
from bus.gateway.answers import answer_attempt, answer_call
from bus.gateway.attempt import (
    Attempt,
    build_attempt,
    duplicate_of,
    invalid_arguments,
    over_capacity,
    replay_or_conflict,
    request_id_conflict,
    state_unreachable,
    unknown_tool,
)
from bus.gateway.call_history import CallHistory
from bus.gateway.deployment import deployment_health
from bus.gateway.events import Accepted, Answer
from bus.gateway.execution import Call, outcome, remembered_of
from bus.gateway.joins import Joins
from bus.gateway.registry import Registry, ToolRegistry
from bus.gateway.revocation import RevocationWatch
from bus.gateway.sessions import Agent, Session, Transport
from bus.gateway.state.admission import CallAdmission
from bus.gateway.state.capacity import (
    CapacityLimiter,
    CapacitySnapshot,
    Rejection,
    Slot,
)
from bus.gateway.state.completion import CallCompletion, Remembered
from bus.gateway.state.deployment import DeploymentRegistry, MemoryDeployment
from bus.gateway.state.hello_failures import HelloFailures
from bus.gateway.state.inflight import CallsInFlight, InFlightCall
from bus.gateway.state.memory_steps import admission_for, completion_for
from bus.gateway.state.outage import OUTAGE_ERRORS
from bus.gateway.state.results import Cached, ResultCache
from bus.protocol import (
    CallRequest,
    ErrorCode,
    Scope,
    error_body,
)
from bus.store.claims import ClaimStore
from controlplane.config import Config, aget_config

logger = logging.getLogger(__name__)


class Gateway:
    """Sessions, calls in flight and the call pipeline of one server process."""

    def __init__(
        self,
        *,
        capacity: CapacityLimiter,
        in_flight: CallsInFlight,
        results: ResultCache,
        hello_failures: HelloFailures,
        registry: ToolRegistry,
        claims: ClaimStore,
        deployment: DeploymentRegistry | None = None,
        completion: CallCompletion | None = None,
        admission: CallAdmission | None = None,
    ) -> None:
        self.capacity = capacity
        # Without a shared registry this process is the whole deployment.
        self.deployment = deployment if deployment is not None else MemoryDeployment()
        self.in_flight = in_flight
        self.results = results
        self.hello_failures = hello_failures
        self.registry = registry
        self.claims = claims
        # How a call's admission and its end reach the seams: batched when the
        # factory built a shared one, else each seam's own step in order.
        self.completion = completion or completion_for(
            results=results, in_flight=in_flight, capacity=capacity
        )
        self.admission = admission or admission_for(
            results=results, in_flight=in_flight, capacity=capacity
        )
        self.call_log = metrics.CallLog()
        self.call_history = CallHistory()
        self.sessions: dict[str, Session] = {}
        self.revocations = RevocationWatch(self.sessions)
        self.running: dict[tuple[str, str], Call] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.started_at = time.time()
        self.draining = False
        self.joins = Joins(in_flight=in_flight, results=results, running=self.running)
        in_flight.listen(self.joins)

    # Sessions

    def open_session(
        self,
        *,
        agent: Agent,
        transport: Transport,
        token_hash: str | None,
        client: str = "",
        session_id: str | None = None,
    ) -> Session:
        """Register a connection that authenticated.

        A transport whose session outlives one process (an MCP session, whose
        requests reach any worker) passes its own `session_id`, so that the
        session limit counts its calls on every worker as one session's.
        """
        session = Session(
            agent=agent, transport=transport, token_hash=token_hash, client=client
        )
        if session_id is not None:
            session.session_id = session_id
        self.sessions[session.session_id] = session
        self.revocations.start()
        return session

    async def close_session(self, session: Session) -> None:
        """Forget a connection; its calls run on and their results are cached."""
        session.closed = True
        self.sessions.pop(session.session_id, None)
        if not self.sessions:
            self.revocations.stop()
        for call in self.running.values():
            call.subscribers.pop(session.session_id, None)
        self.joins.forget(session.session_id)
        await self.capacity.forget_session(session.session_id)

    # Operations

    async def list_tools(self, session: Session) -> list[dict[str, Any]]:
        """Return the listings (name, description, inputSchema) this agent may call."""
        registry = await self.registry.aget()
        return [tool.listing for tool in registry.visible(session.agent.allowed_tools)]

    async def call_tool(
        self, session: Session, request: CallRequest, received_at: float
    ) -> None:
        """Answer a call at once, or accept it and run it in its own task.

        PROTOCOL.md's checks, in order, each answered at once:
        1. an unknown tool (or one this agent may not call) is TOOL_NOT_FOUND;
        2. arguments that break the tool's schema are INVALID_ARGUMENTS;
        3. a cached result for this agent's request_id is replayed
           (REQUEST_ID_CONFLICT if it was for another tool or arguments);
        4. the same request_id in flight is joined ("still processing"), with
           the same conflict rule;
        5. a cached result for the same tool and arguments is reused (cached);
        6. the same tool and arguments in flight is DUPLICATE;
        7. no free slot (global, provider, session) is OVER_CAPACITY;
        then the call is acknowledged and runs with its timeout and heartbeats.
        Shared state that cannot be reached (Redis) answers OVER_CAPACITY.
        """
        attempt = build_attempt(
            session,
            request,
            received_at,
            config=await aget_config(),
            registry=await self.registry.aget(),
        )
        if attempt.tool is None:
            await self._answer(attempt, unknown_tool(attempt))
            return
        problem = attempt.tool.argument_error(attempt.arguments)
        if problem is not None:
            await self._answer(attempt, invalid_arguments(attempt, problem))
            return
        try:
            call = await self._check_shared(attempt)
        except OUTAGE_ERRORS:
            logger.warning(
                "Call %s refused: shared state unreachable",
                attempt.request_id,
                exc_info=True,
            )
            await self._answer(attempt, state_unreachable(attempt.config))
            return
        if call is not None:
            await self._start(call, attempt)

    async def cancel(self, session: Session, request_id: str) -> bool:
        """Cancel an agent's call in flight on any worker; False when there is none.

        Raises one of OUTAGE_ERRORS when the call runs elsewhere and the shared
        state cannot be reached.
        """
        return await self.joins.cancel(session, request_id, "cancelled by the client")

    async def health(self) -> dict[str, Any]:
        """Return the health op's snapshot (``deployment.deployment_health``)."""
        return await deployment_health(self)

    async def capacity_snapshot(
        self, config: Config, registry: Registry
    ) -> CapacitySnapshot:
        """Return slots used of available per scope, for the admin and /metrics.

        Callers pass the configuration and registry they hold, so the snapshot
        itself does no I/O (sync callers read them before, in their thread).
        """
        return await self.capacity.snapshot(
            global_max=config.WS_GLOBAL_MAX_INFLIGHT,
            provider_limits=dict(registry.provider_limits),
            session_max=config.WS_SESSION_MAX_INFLIGHT,
            session_ids=list(self.sessions),
        )

    async def drain(self, grace: float) -> int:
        """Refuse new calls, let running ones finish for `grace` s, cancel the rest."""
        return await shutdown.drain(self, grace)

    async def close_sessions(self, code: int) -> None:
        """Close every open connection with a close code (at shutdown)."""
        await shutdown.close_sessions(self, code)

    # The checks, one method per step of call_tool's list

    async def _check_shared(self, attempt: Attempt) -> Call | None:
        """Steps 3 to 7: return the call to start, or None when answered.

        The seams are asked together (`CallAdmission`): a lookup, then a
        registration unless it found an answer, then a slot unless another
        call holds the request. Registered before acquiring, so a
        cross-process limiter cannot let a resend slip past steps 4 and 6.
        """
        entry = attempt.in_flight_entry(self.in_flight.worker)
        admission = await self.admission.admit(
            entry,
            replay=attempt.replay,
            semantic=attempt.semantic,
            limits=None if self.draining else attempt.limits(),
        )
        if admission.replayed is not None:
            await self._replay(attempt, admission.replayed)
            return None
        # Step 4 comes before step 5, so a cache hit looks for the request in
        # flight first; otherwise registering (step 6) finds it as its holder,
        # one round trip fewer with shared state.
        if admission.cached is not None:
            if not await self._join_running(attempt):
                await self._answer(attempt, admission.cached.body, cached=True)
            return None
        if admission.holder is not None:
            await self._refuse_held(attempt, admission.holder)
            return None
        call = self._register(attempt, entry)
        if isinstance(admission.outcome, Slot):
            call.slot = admission.outcome
            return call
        rejection = admission.outcome or Rejection(
            Scope.GLOBAL, attempt.config.WS_RETRY_AFTER_SECS
        )
        await self._finish(call)
        await self._answer(attempt, over_capacity(rejection))
        return None

    async def _replay(self, attempt: Attempt, replayed: Cached) -> None:
        body = replay_or_conflict(attempt, replayed)
        replay = replayed.fingerprint == attempt.fingerprint
        await self._answer(attempt, body, replay=replay)

    async def _join_running(self, attempt: Attempt) -> bool:
        held = await self.in_flight.find(attempt.agent_key, attempt.request_id)
        if held is None:
            return False
        await self._subscribe(attempt, held)
        return True

    async def _subscribe(self, attempt: Attempt, held: InFlightCall) -> None:
        # A resend (often after a reconnect) joins the call: this session gets
        # its heartbeats and result too. A resend asking for something else
        # joins nothing: the request id already means the running call.
        if held.fingerprint != attempt.fingerprint:
            await self._answer(attempt, request_id_conflict())
            return
        await self.joins.subscribe(attempt.session, held, attempt.replay)

    async def _refuse_held(self, attempt: Attempt, holder: InFlightCall) -> None:
        if holder.request_id == attempt.request_id:
            await self._subscribe(attempt, holder)
        else:
            await self._answer(attempt, duplicate_of(holder))

    def _register(self, attempt: Attempt, entry: InFlightCall) -> Call:
        session = attempt.session
        call = Call(
            request_id=attempt.request_id,
            tool=attempt.tool,
            agent=session.agent,
            origin=session,
            entry=entry,
            replay=attempt.replay,
            semantic=attempt.semantic,
            subscribers={session.session_id: session},
            received_at=attempt.received_at,
        )
        self.running[(entry.agent_key, entry.request_id)] = call
        return call

    async def _start(self, call: Call, attempt: Attempt) -> None:
        config = attempt.config
        timeout = call.tool.timeout_secs or config.WS_CALL_TIMEOUT_SECS
        try:
            await attempt.session.deliver(
                Accepted(call.request_id, call.tool.name, timeout)
            )
        except BaseException:
            await self._finish(call)
            raise
        task = asyncio.create_task(self._run(call, attempt.arguments, timeout, config))
        call.task = task
        self._keep(task)

    # An accepted call, from its tool to its one answer

    async def _run(
        self, call: Call, arguments: dict[str, Any], timeout: float, config: Config
    ) -> None:
        """Run an accepted call to its one answer; the task's top-level boundary."""
        answer: Answer | None = None
        kept: Remembered | None = None
        try:
            answer = Answer(
                call.request_id,
                await outcome(
                    call, arguments, timeout=timeout, config=config, claims=self.claims
                ),
            )
            kept = remembered_of(call, answer, config)
        except Exception:
            logger.exception(
                "Call %s of tool %s failed in the gateway", call.request_id, call.tool
            )
            answer = Answer(
                call.request_id, error_body(ErrorCode.EXEC_ERROR, "internal error")
            )
        finally:
            # Before the answer goes out: a client that reacts to it at once
            # must find it cached, the slot free and the request no longer in
            # flight.
            await self._finish(call, answer, kept)
        await answer_call(
            call,
            answer,
            config,
            call_log=self.call_log,
            call_history=self.call_history,
        )

    async def _finish(
        self,
        call: Call,
        answer: Answer | None = None,
        kept: Remembered | None = None,
    ) -> None:
        key = (call.entry.agent_key, call.entry.request_id)
        if self.running.get(key) is call:
            del self.running[key]
        slot, call.slot = call.slot, None
        await self.completion.complete(
            entry=call.entry,
            left=self.joins.left_for(call, answer),
            slot=slot,
            remembered=kept,
        )

    def _keep(self, task: asyncio.Task[None]) -> None:
        # The loop holds only weak references to tasks: keep each until done.
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # Answers and their records

    async def _answer(
        self,
        attempt: Attempt,
        body: dict[str, Any],
        *,
        cached: bool = False,
        replay: bool = False,
    ) -> None:
        await answer_attempt(
            attempt,
            body,
            call_log=self.call_log,
            call_history=self.call_history,
            cached=cached,
            replay=replay,
        )
