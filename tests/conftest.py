"""Shared fixtures: users, a real database outage, and the guard that tests run on
Postgres."""

import asyncio
import importlib
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis
from asgiref.sync import SyncToAsync
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection, connections

from controlplane import config as cp_config
from controlplane.tokens import agent_token_create
from tests.servers import RedisServer, Server, free_port


def pytest_configure(config: pytest.Config) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError(
            "Tests run on PostgreSQL: set DATABASE_URL=postgres://… or run `make test`."
        )


@pytest.fixture(scope="session", autouse=True)
def empty_redis_test_database() -> None:
    """Start from an empty Redis test database (REDIS_TEST_URL, never a real one).

    Redis outlives a test run: result-cache entries of an earlier run are keyed
    by agent ids that a fresh test database hands out again, so a new run's
    call could be answered by an old run's replay.
    """
    url = os.environ.get("REDIS_TEST_URL")
    if url:
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


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


def _reconnect_later() -> None:
    # A sync test's own connection must reconnect to see the change; async tests
    # reach the database only from worker threads, which check their connection
    # before each use (database_sync_to_async, run_in_db_thread).
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        connection.close()


def backends_terminate(
    *, keep: frozenset[int] = frozenset(), port: str | None = None
) -> int:
    """Terminate every backend of the test database but ``keep``; return how many.

    What a restarted or failed-over database does to the connections a
    process keeps (CONN_MAX_AGE): their next query fails unless the
    connection is checked first. Run over a connection of its own, so it
    works while the test's connections are down or in an async context.
    """
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or None,
        port=port or db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid() AND pid <> ALL(%s)",
            [db["NAME"], list(keep)],
        ).fetchall()
    return sum(1 for (terminated,) in rows if terminated)


class DatabaseOutage:
    """The database goes away for real: open connections are cut, new ones refused.

    Django's connections of every thread share one settings dict, so worker
    threads (database_sync_to_async, the bus's threads) see the outage too:
    every new connection hits a closed port, and the backends of the
    connections already open (kept by CONN_MAX_AGE) are terminated, as a
    database restart would do.
    """

    def __init__(self) -> None:
        self.real_port = connection.settings_dict["PORT"]

    def start(self) -> None:
        """Take the database down: this thread's next query reconnects and fails."""
        # The port first, so that nothing reconnects between the two steps.
        connection.settings_dict["PORT"] = str(free_port())  # nothing listens on it
        backends_terminate(port=self.real_port)
        _reconnect_later()

    def stop(self) -> None:
        """Bring the database back."""
        connection.settings_dict["PORT"] = self.real_port
        _reconnect_later()

    def __enter__(self) -> "DatabaseOutage":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def shared_thread_connections_close() -> None:
    """Close the connections of asgiref's one thread for thread-sensitive code.

    Tests reach the ORM through database_sync_to_async, which runs on that
    thread for the whole session, so its connection outlives the test that
    cut it; the next test starts on a fresh one, as a server's next hello
    would after its health check.
    """
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def database_down(transactional_db: None) -> Iterator[DatabaseOutage]:
    """Use as `with database_down:` (or start()/stop()); always restored."""
    outage = DatabaseOutage()
    yield outage
    outage.stop()
    shared_thread_connections_close()


@pytest.fixture
def builtin_tools(db) -> None:
    """The built-in tools as the data migrations leave them.

    Transactional tests flush every table afterwards, migration data included.
    """
    created = importlib.import_module("bus.migrations.0002_builtin_tools")
    created.create_builtins(django_apps, None)
    closed = importlib.import_module(
        "bus.migrations.0005_builtin_tools_refuse_unknown_arguments"
    )
    closed.refuse_unknown(django_apps, None)


@pytest.fixture
def agent(db) -> tuple[Any, str]:
    """An agent token row and its raw token."""
    return agent_token_create(name="agent-one")


@pytest.fixture
def other_agent(db) -> tuple[Any, str]:
    """A second agent, to prove caches never cross agents."""
    return agent_token_create(name="agent-two")


@pytest.fixture
def control_plane(tmp_path, builtin_tools) -> Iterator[Callable[..., Server]]:
    """Start `manage.py serve` with extra environment; every one stopped at the end.

    Call it as `control_plane(WS_AUTH_FAILURES_PER_MINUTE="3")`, or
    `control_plane("uvicorn", workers=2)`; the server shares the test's
    database, so rows the test writes are the server's.
    """
    started: list[Server] = []

    def start(kind: str = "daphne", workers: int = 1, **environment: str) -> Server:
        folder = tmp_path / f"server-{len(started)}"
        folder.mkdir(parents=True)
        server = Server(folder, free_port(), kind, workers=workers, **environment)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    """A Redis server of the test's own, which it may stop and start again."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server program (make test installs it)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
