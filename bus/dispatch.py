"""The call pipeline, independent of any socket (PROTOCOL.md "call_tool").

normalize → schema → replay cache → in flight → semantic cache → duplicate →
capacity → ack → run with timeout and heartbeats → deliver → result. A session
only needs a coroutine that sends one text frame; calls belong to the gateway,
not to the connection, so they finish after a disconnect and land in the replay
cache, and their slots are released on every path.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bus import metrics
from bus.calls import Agent, Call, Failure, Session, Watch, progress_frame
from bus.capacity import (
    CapacityLimiter,
    CapacitySnapshot,
    InProcessLimiter,
    Limits,
    Rejection,
    Slot,
)
from bus.delivery import ResultContext, bus_status, deliver_result
from bus.protocol import (
    DUPLICATE_NOTE,
    CallRequest,
    ErrorCode,
    Op,
    Scope,
    call_error,
    canonical_json,
    dumps,
    encode_frame,
    normalize_tool_name,
)
from bus.registry import ToolSpec, aget_registry, get_registry
from bus.results import ResultCache, replay_key, semantic_key
from bus.tools.runners import ToolError, ToolTimeout, run_tool, to_outputs
from controlplane.config import Config, aget_config, get_config

logger = logging.getLogger(__name__)

OK = "ok"
# Failures worth replaying to a client that resends the same request_id; a
# cancelled call is not: resending it means "try again".
REPLAYED_FAILURES = {ErrorCode.TIMEOUT, ErrorCode.EXEC_ERROR}
SHUTDOWN_CANCEL_WAIT_SECS = 5.0


class Gateway:
    """Sessions, calls in flight, capacity and caches of this server process."""

    def __init__(
        self,
        capacity: CapacityLimiter | None = None,
        results: ResultCache | None = None,
    ) -> None:
        self.capacity: CapacityLimiter = capacity or InProcessLimiter()
        self.results = results or ResultCache()
        self.call_log = metrics.CallLog()
        self.sessions: dict[str, Session] = {}
        self.calls: dict[tuple[str, str], Call] = {}
        self.by_semantic: dict[str, Call] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.started_at = time.time()
        self.draining = False

    # Sessions

    def open_session(
        self,
        *,
        agent: Agent,
        transport: Callable[[str], Awaitable[None]],
        token_hash: str | None,
        client: str = "",
        closer: Callable[[int], Awaitable[None]] | None = None,
    ) -> Session:
        """Register a connection that said hello."""
        session = Session(
            agent=agent,
            transport=transport,
            closer=closer,
            token_hash=token_hash,
            client=client,
        )
        self.sessions[session.session_id] = session
        return session

    def close_session(self, session: Session) -> None:
        """Forget a connection; its calls run on and their results are cached."""
        session.closed = True
        self.sessions.pop(session.session_id, None)
        for call in self.calls.values():
            call.subscribers.pop(session.session_id, None)
        self.capacity.forget_session(session.session_id)

    # Operations

    async def list_tools(self, session: Session) -> dict[str, Any]:
        """Return the list_tools_res frame of the tools this agent may call."""
        registry = await aget_registry()
        tools = [tool.listing for tool in registry.visible(session.agent.allowed_tools)]
        return {"op": Op.LIST_TOOLS_RES, "tools": tools}

    async def call_tool(
        self, session: Session, request: CallRequest, received_at: float
    ) -> None:
        """Answer a call_tool frame; an accepted call goes on in its own task."""
        config = await aget_config()
        registry = await aget_registry()
        agent = session.agent
        request_id = request.request_id
        if request_id is None:
            request_id = uuid.uuid4().hex
        name = normalize_tool_name(request.name, config.TOOL_NAME_SUFFIXES)
        tool = registry.tools.get(name)
        if tool is None or not agent.may_call(name):
            frame = call_error(
                request_id, ErrorCode.TOOL_NOT_FOUND, f"Unknown tool: {request.name}"
            )
            await self._answer(session, frame, config, name, "", received_at)
            return
        answer = self._answerer(session, config, tool, received_at)
        problem = tool.argument_error(request.arguments)
        if problem is not None:
            message = f"invalid arguments for {name}: {problem}"
            await answer(call_error(request_id, ErrorCode.INVALID_ARGUMENTS, message))
            return
        replay = replay_key(agent.key, request_id)
        semantic = None
        if tool.idempotent:
            arguments_text = canonical_json(request.arguments)
            semantic = semantic_key(agent.key, name, arguments_text)
        replayed, cached = await self.results.lookup(replay, semantic)
        if replayed is not None:
            await answer({"op": Op.CALL_TOOL_RES, "request_id": request_id, **replayed})
            return
        running = self.calls.get((agent.key, request_id))
        if running is not None:
            # A resend (often after a reconnect) joins the call: this session
            # gets its heartbeats and result too.
            running.subscribers[session.session_id] = session
            await session.send(progress_frame(running, note=DUPLICATE_NOTE))
            return
        if cached is not None:
            frame = {"op": Op.CALL_TOOL_RES, "request_id": request_id, **cached}
            await answer({**frame, "cached": True})
            return
        original = self.by_semantic.get(semantic) if semantic else None
        if original is not None:
            frame = call_error(
                request_id,
                ErrorCode.DUPLICATE,
                f"the same call is in flight as request {original.request_id}",
                original_request_id=original.request_id,
            )
            await answer(frame)
            return
        call = Call(
            request_id=request_id,
            tool=tool,
            agent=agent,
            origin=session,
            replay=replay,
            semantic=semantic,
            subscribers={session.session_id: session},
        )
        # Registered before acquiring, so a cross-process limiter that awaits
        # cannot let a resend of this request slip past the checks above.
        self._register(call)
        outcome = await self._acquire(session, tool, config)
        if isinstance(outcome, Rejection):
            self._unregister(call)
            await answer(self._over_capacity(request_id, outcome))
            return
        call.slot = outcome
        timeout = tool.timeout_secs or config.WS_CALL_TIMEOUT_SECS
        try:
            await session.send(
                {
                    "op": Op.CALL_TOOL_ACK,
                    "request_id": request_id,
                    "accepted": True,
                    "timeout": int(timeout) if timeout == int(timeout) else timeout,
                    "name": name,
                }
            )
        except BaseException:
            await self._finish(call)
            raise
        task = asyncio.create_task(
            self._run(call, request.arguments, timeout, config, received_at)
        )
        call.task = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel(self, session: Session, request_id: str) -> bool:
        """Cancel an agent's call in flight; False when there is none."""
        call = self.calls.get((session.agent.key, request_id))
        if call is None:
            return False
        call.subscribers[session.session_id] = session
        self._cancel(call, "cancelled by the client")
        return True

    async def health(self) -> dict[str, Any]:
        """Return the health op's snapshot of this process."""
        config = await aget_config()
        registry = await aget_registry()
        uptime = int(time.time() - self.started_at)
        return {
            "t": time.time(),
            "uptime_human": str(timedelta(seconds=uptime)),
            "uptime_s": uptime,
            "sessions": len(self.sessions),
            "global_capacity": config.WS_GLOBAL_MAX_INFLIGHT,
            "global_inflight": self.capacity.global_inflight,
            "tool_count": len(registry.tools),
            "bus": bus_status(config),
        }

    def capacity_snapshot(self) -> CapacitySnapshot:
        """Return slots used of available per scope, for the admin and /metrics."""
        config = get_config()
        return self.capacity.snapshot(
            global_max=config.WS_GLOBAL_MAX_INFLIGHT,
            provider_limits=dict(get_registry().provider_limits),
            session_max=config.WS_SESSION_MAX_INFLIGHT,
            session_ids=list(self.sessions),
        )

    async def drain(self, grace: float) -> int:
        """Refuse new calls, let running ones finish for `grace` s, cancel the rest."""
        self.draining = True
        pending = set(self.tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for call in list(self.calls.values()):
            self._cancel(call, "server shutting down")
        if pending:
            await asyncio.wait(pending, timeout=SHUTDOWN_CANCEL_WAIT_SECS)
        self.call_log.flush()
        return len(pending)

    async def close_sessions(self, code: int) -> None:
        """Close every open connection with a close code (at shutdown)."""
        for session in list(self.sessions.values()):
            if session.closer is None:
                continue
            try:
                await session.closer(code)
            except Exception:
                # Shutdown goes on for the other sessions; this one just drops.
                logger.exception("Cannot close session %s", session.session_id)

    # Pipeline steps

    def _answerer(
        self, session: Session, config: Config, tool: ToolSpec, received_at: float
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def answer(frame: dict[str, Any]) -> None:
            await self._answer(
                session, frame, config, tool.name, tool.provider, received_at
            )

        return answer

    async def _acquire(
        self, session: Session, tool: ToolSpec, config: Config
    ) -> Slot | Rejection:
        if self.draining:
            return Rejection(Scope.GLOBAL, config.WS_RETRY_AFTER_SECS)
        return await self.capacity.acquire(
            Limits(
                global_max=config.WS_GLOBAL_MAX_INFLIGHT,
                provider=tool.provider,
                provider_max=tool.provider_max_inflight,
                session_id=session.session_id,
                session_max=config.WS_SESSION_MAX_INFLIGHT,
                retry_floor=config.WS_RETRY_AFTER_SECS,
            )
        )

    @staticmethod
    def _over_capacity(request_id: str, rejection: Rejection) -> dict[str, Any]:
        return call_error(
            request_id,
            ErrorCode.OVER_CAPACITY,
            f"{rejection.scope} concurrency limit reached; retry soon",
            retry_after=rejection.retry_after,
            scope=rejection.scope,
        )

    def _register(self, call: Call) -> None:
        self.calls[(call.agent.key, call.request_id)] = call
        if call.semantic is not None:
            self.by_semantic[call.semantic] = call

    def _unregister(self, call: Call) -> None:
        key = (call.agent.key, call.request_id)
        if self.calls.get(key) is call:
            del self.calls[key]
        if call.semantic is not None and self.by_semantic.get(call.semantic) is call:
            del self.by_semantic[call.semantic]

    async def _finish(self, call: Call) -> None:
        self._unregister(call)
        slot, call.slot = call.slot, None
        if slot is not None:
            await self.capacity.release(slot)

    @staticmethod
    def _cancel(call: Call, reason: str) -> None:
        if call.cancel_reason is None:
            call.cancel_reason = reason
        # Only the tool is interrupted: once it has returned, the result is
        # delivered and cached as usual.
        if call.tool_running and call.task is not None:
            call.task.cancel()

    async def _run(
        self,
        call: Call,
        arguments: dict[str, Any],
        timeout: float,
        config: Config,
        received_at: float,
    ) -> None:
        """Run an accepted call to its one result; the task's top-level boundary."""
        try:
            body = await self._result_body(call, arguments, timeout, config)
            code = body["error"]["code"] if "error" in body else OK
            if code == OK or code in REPLAYED_FAILURES:
                semantic = call.semantic if code == OK else None
                await self.results.store(
                    body,
                    replay=call.replay,
                    semantic=semantic,
                    ttl=config.WS_RESULT_TTL_SECS,
                )
        except Exception:
            logger.exception(
                "Call %s of tool %s failed in the gateway", call.request_id, call.tool
            )
            body = {
                "error": {"code": ErrorCode.EXEC_ERROR, "message": "internal error"}
            }
        finally:
            # Before the result goes out: a client that reacts to it at once
            # must find the slot free and the request no longer in flight.
            await self._finish(call)
        text = encode_frame(
            {"op": Op.CALL_TOOL_RES, "request_id": call.request_id, **body}
        )
        call.answered = True
        for session in list(call.subscribers.values()):
            await session.send_text(text)
        outcome = body["error"]["code"] if "error" in body else OK
        self._record(
            call.origin,
            config,
            call.tool.name,
            call.tool.provider,
            outcome,
            received_at,
            len(text),
            "bus" in body,
        )

    async def _result_body(
        self, call: Call, arguments: dict[str, Any], timeout: float, config: Config
    ) -> dict[str, Any]:
        result = await self._execute(call, arguments, timeout, config)
        if isinstance(result, Failure):
            return {"error": {"code": result.code, "message": result.message}}
        payload = dumps({"outputs": result}).encode()
        frame = await deliver_result(
            payload=payload,
            outputs=result,
            context=ResultContext(
                request_id=call.request_id,
                session_id=call.origin.session_id,
                agent_id=call.agent.id,
                agent_name=call.agent.name,
                tool_name=call.tool.name,
                provider_name=call.tool.provider,
            ),
            config=config,
        )
        return {k: v for k, v in frame.items() if k not in ("op", "request_id")}

    async def _execute(
        self, call: Call, arguments: dict[str, Any], timeout: float, config: Config
    ) -> list[dict[str, Any]] | Failure:
        if call.cancel_reason is not None:
            return Failure(ErrorCode.CANCELLED, call.cancel_reason)
        # The tool runs in this task (no extra task per call); cancel and the
        # timeout interrupt it by cancelling this task while tool_running.
        watch = Watch(call, config.WS_PROGRESS_INTERVAL_SECS, timeout)
        call.tool_running = True
        try:
            value = await run_tool(call.tool, arguments, timeout)
        except asyncio.CancelledError:
            if watch.expired:
                asyncio.current_task().uncancel()
                return Failure(
                    ErrorCode.TIMEOUT,
                    f"{call.tool.name} did not finish within {timeout:g}s",
                )
            if call.cancel_reason is None:
                raise
            asyncio.current_task().uncancel()
            return Failure(ErrorCode.CANCELLED, call.cancel_reason)
        except ToolTimeout as error:
            return Failure(ErrorCode.TIMEOUT, str(error))
        except Exception as error:  # noqa: BLE001  (the tool boundary: any failure
            # of the tool's own code is its call's EXEC_ERROR, logged, not ours)
            return self._tool_failure(call, error)
        finally:
            call.tool_running = False
            watch.stop()
        return to_outputs(value)

    @staticmethod
    def _tool_failure(call: Call, error: Exception) -> Failure:
        if not isinstance(error, ToolError):
            logger.warning(
                "Tool %s raised %s",
                call.tool.name,
                type(error).__name__,
                exc_info=error,
            )
        return Failure(ErrorCode.EXEC_ERROR, str(error) or type(error).__name__)

    async def _answer(
        self,
        session: Session,
        frame: dict[str, Any],
        config: Config,
        name: str,
        provider: str,
        received_at: float,
    ) -> None:
        size = await session.send(frame)
        outcome = frame["error"]["code"] if "error" in frame else OK
        self._record(
            session, config, name, provider, outcome, received_at, size, "bus" in frame
        )

    def _record(
        self,
        session: Session,
        config: Config,
        name: str,
        provider: str,
        outcome: str,
        received_at: float,
        size: int,
        bus: bool,
    ) -> None:
        latency = time.perf_counter() - received_at
        self.call_log.append(
            config.WS_METRICS_PATH,
            {
                "t": time.time(),
                "op": Op.CALL_TOOL,
                "lat": round(latency, 6),
                "sess": session.session_id,
                "name": name,
                "prov": provider,
                "outcome": outcome,
                "bytes": size,
                "bus": bus,
            },
        )
        metrics.observe_call(
            name if provider else metrics.UNKNOWN_TOOL, outcome, latency
        )


gateway = Gateway()
metrics.register_collector(
    metrics.GatewayCollector(
        lambda: gateway.capacity_snapshot(), lambda: len(gateway.sessions)
    )
)
