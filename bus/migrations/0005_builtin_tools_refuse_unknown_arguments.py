"""Built-in tools refuse arguments they do not take (INVALID_ARGUMENTS at step 2).

Without `additionalProperties: false` an extra argument passed the schema check,
then failed inside the tool as EXEC_ERROR, which is replayed for the whole TTL.
Only schemas still as 0002 created them are changed: an operator's edit stays.
"""

import copy
import importlib

from django.db import migrations

BUILTIN_NAMES = ("echo", "sleep", "generate")


def _original_schemas(apps) -> dict:
    module = importlib.import_module("bus.migrations.0002_builtin_tools")
    return {tool["name"]: tool["input_schema"] for tool in module.BUILTIN_TOOLS}


def refuse_unknown(apps, schema_editor):
    Tool = apps.get_model("bus", "Tool")
    originals = _original_schemas(apps)
    for tool in Tool.objects.filter(name__in=BUILTIN_NAMES):
        if tool.input_schema == originals[tool.name]:
            schema = copy.deepcopy(tool.input_schema)
            schema["additionalProperties"] = False
            Tool.objects.filter(pk=tool.pk).update(input_schema=schema)


def accept_unknown(apps, schema_editor):
    Tool = apps.get_model("bus", "Tool")
    originals = _original_schemas(apps)
    for tool in Tool.objects.filter(name__in=BUILTIN_NAMES):
        closed = {**originals[tool.name], "additionalProperties": False}
        if tool.input_schema == closed:
            Tool.objects.filter(pk=tool.pk).update(input_schema=originals[tool.name])


class Migration(migrations.Migration):
    dependencies = [("bus", "0004_message_status_without_pending")]

    operations = [migrations.RunPython(refuse_unknown, accept_unknown)]
