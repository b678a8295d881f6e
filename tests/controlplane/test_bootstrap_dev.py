"""bootstrap_dev (run by `make run`) creates dev credentials once; reruns are safe."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from controlplane.models import AgentToken
from controlplane.tokens import agent_token_find


@pytest.mark.django_db
def test_bootstrap_dev__creates_admin_and_token_once_then_reports_them():
    first, second = StringIO(), StringIO()
    call_command("bootstrap_dev", "--port", "8123", stdout=first)
    call_command("bootstrap_dev", "--port", "8123", stdout=second)
    password = first.getvalue().split("password: ")[1].split()[0]
    token = first.getvalue().split("token: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert agent_token_find(token).name == "dev-agent"
    assert "ws://127.0.0.1:8123/ws/" in first.getvalue()
    assert password not in second.getvalue() and token not in second.getvalue()
    assert "exists" in second.getvalue()
    assert AgentToken.objects.count() == 1
