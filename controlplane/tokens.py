"""Agent token services: create, verify (constant time), revoke, rotate."""

import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.exceptions import (
    DuplicateAgentError,
    TokenMismatchError,
    WeakTokenError,
)
from controlplane.models import AgentToken

TOKEN_BYTES = 32
# What rotate_token takes as a new token (PROTOCOL.md "rotate_token"); the
# distinct characters refuse "a" * 32 and other long but guessable tokens.
MIN_TOKEN_LENGTH = 32
MIN_TOKEN_DISTINCT_CHARS = 16
# Stand-ins for the time and the digest while AgentToken.objects.active() is
# compiled to SQL once (active_token_sql); neither is ever sent to the database.
_COMPILE_NOW = datetime(1970, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)
_COMPILE_DIGEST = "digest-to-be-bound"


@dataclass(frozen=True, slots=True)
class ActiveTokenSql:
    """SQL selecting (id, name, token_hash) of the usable agent of one token
    digest, and the parameters it takes for a digest and a time."""

    sql: str
    _params: tuple
    _now_at: tuple[int, ...]
    _digest_at: tuple[int, ...]

    def params(self, digest: str, now: datetime) -> list:
        """Return the query's parameters for this digest, active at now."""
        params = list(self._params)
        for index in self._now_at:
            params[index] = now
        for index in self._digest_at:
            params[index] = digest
        return params


def token_hash(raw_token: str) -> str:
    """Return the stored form of a token: its SHA-256 hex digest."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def agent_token_create(
    *,
    name: str,
    expires_at: datetime | None = None,
    allowed_tools: list[str] | None = None,
    user: AbstractBaseUser | None = None,
) -> tuple[AgentToken, str]:
    """Create an agent with a fresh token; return row and raw token.

    Raises DuplicateAgentError when the name is taken.
    """
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        with transaction.atomic():
            agent = AgentToken.objects.create(
                name=name,
                token_hash=token_hash(raw),
                expires_at=expires_at,
                allowed_tools=allowed_tools or [],
                created_by=user,
            )
    except IntegrityError as exc:
        raise DuplicateAgentError(f"an agent named {name!r} already exists") from exc
    return agent, raw


def agent_token_find(raw_token: str) -> AgentToken | None:
    """Return the usable agent for a raw token; None if unknown, revoked or expired."""
    digest = token_digest(raw_token)
    if digest is None:
        return None
    row = AgentToken.objects.active().filter(token_hash=digest).first()
    return _matching({} if row is None else {row.token_hash: row}, digest)


@functools.cache
def active_token_sql() -> ActiveTokenSql:
    """Return AgentToken.objects.active()'s lookup of one digest, compiled once.

    For callers that check a token inside a query of their own (the bus's
    HTTP fetch: one round trip for the token and the message): the "active"
    rule stays the queryset's, and the ORM's per-call query building (about
    0.5 ms) is paid once per process.
    """
    query = (
        AgentToken.objects.active(now=_COMPILE_NOW)
        .filter(token_hash=_COMPILE_DIGEST)
        .values_list("id", "name", "token_hash")
        .order_by()
        .query
    )
    sql, params = query.sql_with_params()
    now_at = tuple(i for i, value in enumerate(params) if value == _COMPILE_NOW)
    digest_at = tuple(i for i, value in enumerate(params) if value == _COMPILE_DIGEST)
    if not now_at or not digest_at:
        raise RuntimeError("AgentToken.objects.active() no longer compiles as expected")
    return ActiveTokenSql(
        sql=sql, _params=tuple(params), _now_at=now_at, _digest_at=digest_at
    )


def token_digest_matches(found: str, digest: str) -> bool:
    """Return whether a digest found by lookup equals digest, in constant time."""
    return hmac.compare_digest(found, digest)


def agent_token_revoke(*, agent: AgentToken) -> None:
    """Revoke an agent's token; new connections with it are refused at once."""
    if agent.status != AgentToken.Status.REVOKED:
        agent.revoked_at = timezone.now()
        agent.save(update_fields=["revoked_at"])


def agent_token_use(raw_token: str) -> AgentToken | None:
    """Return the usable agent for a raw token and record that it was used now."""
    return agent_tokens_use([raw_token])[0]


def agent_tokens_use(raw_tokens: Sequence[str]) -> list[AgentToken | None]:
    """Return each raw token's usable agent (None if unknown, revoked or expired)
    and record that they were used now: two queries however many tokens."""
    digests = [token_digest(raw) for raw in raw_tokens]
    wanted = {digest for digest in digests if digest is not None}
    found = {
        row.token_hash: row
        for row in AgentToken.objects.active().filter(token_hash__in=wanted)
    }
    if found:
        now = timezone.now()
        AgentToken.objects.filter(pk__in=[row.pk for row in found.values()]).update(
            last_used_at=now
        )
        for row in found.values():
            row.last_used_at = now
    return [_matching(found, digest) for digest in digests]


def token_digest(raw_token: object) -> str | None:
    """Return the digest to look a raw token up by; None for one that matches nobody."""
    # Anything but a non-empty string (a missing or malformed field) matches nobody.
    return token_hash(raw_token) if isinstance(raw_token, str) and raw_token else None


def _matching(found: dict[str, AgentToken], digest: str | None) -> AgentToken | None:
    # The lookup is by digest, so timing reveals nothing about the raw token; the
    # compare_digest keeps the final equality check constant-time as well.
    row = found.get(digest) if digest is not None else None
    if row is None or not token_digest_matches(row.token_hash, digest):
        return None
    return row


def agent_token_rotate(*, agent_id: int, old_token: str, new_token: str) -> None:
    """Replace an agent's current token; raise TokenMismatchError or WeakTokenError."""
    if len(new_token) < MIN_TOKEN_LENGTH:
        raise WeakTokenError(f"a token needs at least {MIN_TOKEN_LENGTH} characters")
    if len(set(new_token)) < MIN_TOKEN_DISTINCT_CHARS:
        raise WeakTokenError(
            f"a token needs at least {MIN_TOKEN_DISTINCT_CHARS} distinct characters"
        )
    try:
        with transaction.atomic():
            updated = (
                AgentToken.objects.active()
                .filter(pk=agent_id, token_hash=token_hash(old_token))
                .update(token_hash=token_hash(new_token))
            )
    except IntegrityError as exc:
        # Another agent already has this token: it is known, so it is weak.
        raise WeakTokenError("choose another token") from exc
    if not updated:
        raise TokenMismatchError("the old token is not this agent's current token")
