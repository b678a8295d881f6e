"""Agent token services and the create_agent_token command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from controlplane.exceptions import TokenMismatchError, WeakTokenError
from controlplane.models import AgentToken
from controlplane.tokens import (
    active_token_sql,
    agent_token_create,
    agent_token_find,
    agent_token_revoke,
    agent_token_rotate,
    agent_token_use,
    agent_tokens_use,
    token_digest,
    token_hash,
)

pytestmark = pytest.mark.django_db

STRONG = "0123456789abcdef" * 2  # 32 characters, 16 distinct: the weakest allowed


def test_agent_token_create__stores_only_the_hash() -> None:
    agent, raw = agent_token_create(name="a")
    assert len(raw) >= 32 and agent.token_hash == token_hash(raw)
    assert raw not in AgentToken.objects.values_list("token_hash", flat=True)


def _compiled_lookup(raw: str, now) -> list[tuple]:
    rule = active_token_sql()
    with connection.cursor() as cursor:
        cursor.execute(rule.sql, rule.params(token_digest(raw), now))
        return cursor.fetchall()


def test_active_token_sql__finds_what_active_finds_at_each_time() -> None:
    """The compiled rule binds the time of each call, not the time it compiled."""
    now = timezone.now()
    tokens = {
        "forever": agent_token_create(name="forever"),
        "later": agent_token_create(name="later", expires_at=now + timedelta(hours=1)),
        "expired": agent_token_create(name="expired", expires_at=now),
        "revoked": agent_token_create(name="revoked"),
    }
    agent_token_revoke(agent=tokens["revoked"][0])
    for at in (now, now + timedelta(hours=2)):
        for agent, raw in tokens.values():
            expected = [
                (row.pk, row.name, row.token_hash)
                for row in AgentToken.objects.active(now=at).filter(pk=agent.pk)
            ]
            assert _compiled_lookup(raw, at) == expected, (agent.name, at)
    assert [row[1] for row in _compiled_lookup(tokens["later"][1], now)] == ["later"]
    assert _compiled_lookup(tokens["later"][1], now + timedelta(hours=2)) == []
    assert _compiled_lookup("not a token", now) == []


def test_agent_token_find__refuses_unknown_revoked_and_expired() -> None:
    agent, raw = agent_token_create(name="a")
    _, expired = agent_token_create(
        name="b", expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert agent_token_find(raw) == agent
    assert agent_token_find("nope") is None and agent_token_find("") is None
    assert agent_token_find(expired) is None
    agent_token_revoke(agent=agent)
    assert agent_token_find(raw) is None


def test_agent_token_use__records_last_used() -> None:
    agent, raw = agent_token_create(name="a")
    assert agent.last_used_at is None
    agent_token_use(raw)
    agent.refresh_from_db()
    assert agent.last_used_at is not None


def test_agent_token_rotate__replaces_the_token() -> None:
    agent, raw = agent_token_create(name="a")
    new = STRONG
    agent_token_rotate(agent_id=agent.pk, old_token=raw, new_token=new)
    assert agent_token_find(raw) is None and agent_token_find(new) == agent


def test_agent_token_rotate__refusals() -> None:
    agent, raw = agent_token_create(name="a")
    _, other = agent_token_create(name="b")
    with pytest.raises(WeakTokenError):
        agent_token_rotate(agent_id=agent.pk, old_token=raw, new_token="short")
    with pytest.raises(TokenMismatchError):
        agent_token_rotate(agent_id=agent.pk, old_token="wrong", new_token=STRONG)
    with pytest.raises(WeakTokenError):
        agent_token_rotate(agent_id=agent.pk, old_token=raw, new_token=other)


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 32,
        "a" * 1000,
        "ab" * 20,
        "0123456789abcde" * 3,  # 45 characters, 15 distinct
        "0123456789abcdefghijklmnopqrstu",  # 31 distinct, one too short
    ],
)
def test_agent_token_rotate__refuses_short_or_repetitive_tokens(weak: str) -> None:
    """rotate_token accepted "a" * 32; 16 distinct characters are required too."""
    agent, raw = agent_token_create(name="a")
    with pytest.raises(WeakTokenError):
        agent_token_rotate(agent_id=agent.pk, old_token=raw, new_token=weak)
    assert agent_token_find(raw) == agent


def test_agent_token_rotate__takes_the_weakest_allowed_token() -> None:
    agent, raw = agent_token_create(name="a")
    agent_token_rotate(agent_id=agent.pk, old_token=raw, new_token=STRONG)
    assert agent_token_find(STRONG) == agent


def test_agent_token_rotate__refuses_an_expired_token() -> None:
    agent, raw = agent_token_create(
        name="a", expires_at=timezone.now() - timedelta(minutes=1)
    )
    with pytest.raises(TokenMismatchError):
        agent_token_rotate(agent_id=agent.pk, old_token=raw, new_token=STRONG)
    agent.refresh_from_db()
    assert agent.token_hash == token_hash(raw)


def test_agent_token_revoke__keeps_the_first_revocation_time() -> None:
    agent, _ = agent_token_create(name="a")
    agent_token_revoke(agent=agent)
    first = agent.revoked_at
    agent_token_revoke(agent=agent)
    agent.refresh_from_db()
    assert agent.revoked_at == first and agent.status == AgentToken.Status.REVOKED


def test_create_agent_token__prints_token_last() -> None:
    out = StringIO()
    call_command(
        "create_agent_token",
        "bot",
        "--allow-tool",
        "echo",
        "--expires-in-days",
        "2",
        stdout=out,
    )
    raw = out.getvalue().strip().splitlines()[-1]
    agent = agent_token_find(raw)
    assert agent is not None and agent.name == "bot"
    assert agent.allowed_tools == ["echo"] and agent.expires_at is not None


def test_create_agent_token__existing_name_fails() -> None:
    agent_token_create(name="bot")
    with pytest.raises(CommandError) as error:
        call_command("create_agent_token", "bot", stdout=StringIO())
    assert error.value.returncode == 1
    assert AgentToken.objects.filter(name="bot").count() == 1


def test_agent_tokens_use__each_token_its_agent_in_two_queries(
    django_assert_num_queries,
) -> None:
    """A batch of hellos: usable tokens found and recorded, the rest refused."""
    first, first_raw = agent_token_create(name="a")
    second, second_raw = agent_token_create(name="b")
    revoked, revoked_raw = agent_token_create(name="c")
    agent_token_revoke(agent=revoked)
    _, expired_raw = agent_token_create(
        name="d", expires_at=timezone.now() - timedelta(minutes=1)
    )
    tokens = [first_raw, "nope", second_raw, revoked_raw, expired_raw, "", first_raw]
    with django_assert_num_queries(2):
        rows = agent_tokens_use(tokens)
    assert rows == [first, None, second, None, None, None, first]
    used = dict(AgentToken.objects.values_list("name", "last_used_at"))
    assert used["a"] is not None and used["b"] is not None
    assert used["c"] is None and used["d"] is None
    assert rows[0].last_used_at == used["a"]


def test_agent_tokens_use__no_usable_token_writes_nothing(
    django_assert_num_queries,
) -> None:
    with django_assert_num_queries(0):
        assert agent_tokens_use(["", ""]) == [None, None]
    with django_assert_num_queries(1):
        assert agent_tokens_use(["unknown"]) == [None]
