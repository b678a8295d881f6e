"""Create the builtin provider and the echo, sleep and generate tools (PROTOCOL.md)."""

from django.db import migrations

BUILTIN_TOOLS = [
    {
        "name": "echo",
        "description": "Return the given text as one text output.",
        "target": "bus.tools.builtin.echo",
        "input_schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
    {
        "name": "sleep",
        "description": "Wait the given seconds, then answer 'slept <seconds>'.",
        "target": "bus.tools.builtin.sleep",
        "input_schema": {
            "type": "object",
            "properties": {
                "seconds": {"type": "number", "minimum": 0, "maximum": 3600}
            },
            "required": ["seconds"],
        },
    },
    {
        "name": "generate",
        "description": "Return exactly `bytes` ASCII characters of words "
        "(deterministic for a seed); exercises the message bus.",
        "target": "bus.tools.builtin.generate",
        "input_schema": {
            "type": "object",
            "properties": {
                "bytes": {"type": "integer", "minimum": 0, "maximum": 1073741824},
                "seed": {"type": "integer"},
            },
            "required": ["bytes"],
        },
    },
]


def create_builtins(apps, schema_editor):
    Provider = apps.get_model("bus", "Provider")
    Tool = apps.get_model("bus", "Tool")
    provider, _ = Provider.objects.get_or_create(
        name="builtin", defaults={"max_inflight": 0}
    )
    for spec in BUILTIN_TOOLS:
        Tool.objects.get_or_create(
            name=spec["name"],
            defaults={
                **spec,
                "kind": "python",
                "provider": provider,
                "idempotent": True,
            },
        )


def remove_builtins(apps, schema_editor):
    Tool = apps.get_model("bus", "Tool")
    Provider = apps.get_model("bus", "Provider")
    Tool.objects.filter(name__in=[spec["name"] for spec in BUILTIN_TOOLS]).delete()
    Provider.objects.filter(name="builtin", tools__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("bus", "0001_initial")]

    operations = [migrations.RunPython(create_builtins, remove_builtins)]
