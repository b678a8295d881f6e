"""Model rules: an agent token's status, in Python and in SQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_token_revoke

pytestmark = pytest.mark.django_db

Status = AgentToken.Status


@pytest.fixture
def tokens_of_every_status() -> dict[str, AgentToken]:
    """One token per case, keyed by name: no expiry, future, past, revoked, both."""
    now = timezone.now()
    rows = {
        "forever": agent_token_create(name="forever")[0],
        "later": agent_token_create(name="later", expires_at=now + timedelta(days=1))[
            0
        ],
        "past": agent_token_create(name="past", expires_at=now - timedelta(seconds=1))[
            0
        ],
        "revoked": agent_token_create(name="revoked")[0],
        "both": agent_token_create(name="both", expires_at=now - timedelta(days=1))[0],
    }
    agent_token_revoke(agent=rows["revoked"])
    agent_token_revoke(agent=rows["both"])
    return rows


def test_agent_token_status__names_active_expired_and_revoked(tokens_of_every_status):
    assert {name: row.status for name, row in tokens_of_every_status.items()} == {
        "forever": Status.ACTIVE,
        "later": Status.ACTIVE,
        "past": Status.EXPIRED,
        "revoked": Status.REVOKED,
        "both": Status.REVOKED,
    }


def test_agent_token_objects_active__agrees_with_status(tokens_of_every_status):
    active = set(AgentToken.objects.active().values_list("name", flat=True))
    assert active == {
        name
        for name, row in tokens_of_every_status.items()
        if row.status == Status.ACTIVE
    }


def test_agent_token_status__expires_at_the_expiry_instant():
    now = timezone.now()
    assert AgentToken(expires_at=now).status == Status.EXPIRED
    assert AgentToken(expires_at=now + timedelta(minutes=1)).status == Status.ACTIVE
