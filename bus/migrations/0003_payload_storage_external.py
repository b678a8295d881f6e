"""Store message_bus.payload uncompressed by TOAST: it is compressed already."""

from django.db import migrations


def set_external(apps, schema_editor):
    # Postgres would otherwise try pglz on bytes zstd/gzip already compressed:
    # measured 3-6x slower inserts for no gain. SQLite has no such storage option.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE message_bus ALTER COLUMN payload SET STORAGE EXTERNAL"
        )


def set_extended(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE message_bus ALTER COLUMN payload SET STORAGE EXTENDED"
        )


class Migration(migrations.Migration):
    dependencies = [("bus", "0002_builtin_tools")]

    operations = [migrations.RunPython(set_external, set_extended)]
