"""System checks for stored configuration overrides that no longer fit the schema."""

from django.core.checks import CheckMessage, Warning, register
from django.db import DatabaseError

from controlplane import config


@register()
def check_overrides(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """Report override rows whose key or value the schema no longer accepts."""
    from controlplane.models import ConfigOverride

    try:
        rows = list(ConfigOverride.objects.values_list("key", "value"))
    except DatabaseError:
        # Before the first migrate (or with the database down) there is nothing
        # to check; the health endpoint reports the database itself.
        return []
    problems: list[CheckMessage] = []
    for key, value in rows:
        if key not in config.FIELDS or not config.spec_of(key).overridable:
            problems.append(
                Warning(
                    f"Override of {key} is ignored: not an overridable key.",
                    hint="Delete it in the admin (Configuration overrides).",
                    id="controlplane.W001",
                )
            )
            continue
        try:
            config.parse_value(key, value)
        except ValueError as exc:
            problems.append(
                Warning(
                    f"Override {key}={value!r} is ignored: {exc}.",
                    hint="Fix or delete it in the admin (Configuration overrides).",
                    id="controlplane.W002",
                )
            )
    return problems
