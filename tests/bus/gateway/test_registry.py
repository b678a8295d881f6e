"""The tool registry: held in memory, refreshed by version, kept through outages."""

import logging

import pytest

from bus.gateway.registry import ToolRegistry, schema_error
from bus.models import Tool


@pytest.mark.django_db(transaction=True)
def test_registry__keeps_last_known_tools_when_database_is_down(
    builtin_tools, caplog, database_down
) -> None:
    registry = ToolRegistry(interval=0.0)  # every read checks the stored version
    known = registry.get()
    assert "echo" in known.tools

    with database_down, caplog.at_level(logging.WARNING):
        assert registry.get() is known
    assert "Cannot read the tool registry; keeping last known values" in caplog.text


def test_registry__sees_admin_changes_after_refresh(builtin_tools) -> None:
    registry = ToolRegistry(interval=0.0)
    assert "echo" in registry.get().tools
    Tool.objects.filter(name="echo").update(enabled=False)
    assert "echo" not in registry.get().tools


def test_registry__waits_for_the_interval_before_checking(builtin_tools) -> None:
    registry = ToolRegistry(interval=3600.0)
    assert "echo" in registry.get().tools
    Tool.objects.filter(name="echo").update(enabled=False)
    assert "echo" in registry.get().tools  # the stored version is not read yet
    registry.invalidate()
    assert "echo" not in registry.get().tools


def test_schema_error__names_the_problem() -> None:
    assert schema_error({"type": "object"}) is None
    assert "is not valid" in schema_error({"type": "objekt"})
