"""Data migrations of the bus app, run on rows as earlier migrations left them."""

import importlib

import pytest
from django.apps import apps

from bus.models import Tool

pytestmark = pytest.mark.django_db

created = importlib.import_module("bus.migrations.0002_builtin_tools")
closed = importlib.import_module(
    "bus.migrations.0005_builtin_tools_refuse_unknown_arguments"
)


def test_refuse_unknown__closes_untouched_builtins_and_reverses() -> None:
    created.create_builtins(apps, None)
    Tool.objects.filter(name="sleep").update(input_schema={"type": "object"})

    closed.refuse_unknown(apps, None)
    closed.refuse_unknown(apps, None)  # idempotent

    echo = Tool.objects.get(name="echo").input_schema
    assert echo["additionalProperties"] is False
    assert Tool.objects.get(name="sleep").input_schema == {"type": "object"}
    closed.accept_unknown(apps, None)
    assert "additionalProperties" not in Tool.objects.get(name="echo").input_schema
