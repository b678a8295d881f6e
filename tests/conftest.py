"""Shared fixtures: users, agents, and the guard that tests run on Postgres."""

import os

import pytest
from django.conf import settings

from controlplane import config as cp_config


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError(
            "Tests run on PostgreSQL: set DATABASE_URL=postgres://… or run `make test`."
        )


@pytest.fixture(autouse=True)
def fresh_config() -> None:
    """Each test starts without a cached configuration snapshot."""
    cp_config.invalidate()


@pytest.fixture
def staff_user(django_user_model):
    """A superuser operators log in with."""
    return django_user_model.objects.create_superuser(
        username="operator", email="op@example.com", password="operator-pass-123"
    )


@pytest.fixture
def admin_client_logged_in(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def subprocess_env(settings) -> dict[str, str]:
    """Environment for a child process that uses this test's database."""
    db = settings.DATABASES["default"]
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/"
        f"{db['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
    }
