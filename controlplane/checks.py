"""System checks: stored overrides that no longer fit the schema, and environment
variables that look like configuration keys but are none (typos)."""

from django.conf import settings
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


@register()
def check_environment_keys(
    app_configs: object = None, **kwargs: object
) -> list[CheckMessage]:
    """Warn about environment variables with a project prefix that name no key."""
    problems: list[CheckMessage] = []
    for name, closest in settings.CONTROLPLANE_BASE_CONFIG.unknown:
        hint = f"Did you mean {closest}?" if closest else "No key is close to it."
        problems.append(
            Warning(
                f"Environment variable {name} is not a configuration key; "
                "it is ignored.",
                hint=f"{hint} Every key is listed in .env.example.",
                id="controlplane.W003",
            )
        )
    return problems
