"""State changes of configuration overrides (with history) and their rollback."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from controlplane import config
from controlplane.exceptions import OverrideConflictError, OverrideError
from controlplane.models import ConfigChange, ConfigOverride


def _check_key(key: str) -> None:
    if key not in config.FIELDS:
        raise OverrideError(f"{key}: unknown configuration key")
    if not config.spec_of(key).overridable:
        raise OverrideError(
            f"{key}: cannot be overridden at run time; set it in the environment"
        )


def config_override_validate(*, key: str, raw_value: str) -> str:
    """Return the value normalized as stored; raise OverrideError naming the rule."""
    _check_key(key)
    try:
        parsed = config.parse_value(key, raw_value)
    except ValueError as exc:
        raise OverrideError(f"{key}={raw_value!r}: {exc}") from exc
    return config.render_value(key, parsed, reveal=True)


def _locked_current(key: str, expected_revision: int | None) -> ConfigOverride | None:
    current = ConfigOverride.objects.select_for_update().filter(key=key).first()
    current_revision = current.revision if current else 0
    if expected_revision is not None and expected_revision != current_revision:
        who = (
            current.updated_by if current and current.updated_by else "another operator"
        )
        raise OverrideConflictError(
            f"{key} was changed by {who} while you were editing it; "
            "reload the page and apply your change again"
        )
    return current


def config_override_set(
    *,
    key: str,
    raw_value: str,
    reason: str,
    user: AbstractBaseUser | None,
    expected_revision: int | None = None,
    action: str = ConfigChange.Action.SET,
) -> ConfigOverride:
    """Create or update an override and record it; raise OverrideError or a conflict."""
    value = config_override_validate(key=key, raw_value=raw_value)
    if not reason.strip():
        raise OverrideError(f"{key}: a reason is required")
    try:
        with transaction.atomic():
            current = _locked_current(key, expected_revision)
            old_value = current.value if current else None
            if current is None:
                current = ConfigOverride(key=key)
            else:
                current.revision += 1
            current.value, current.reason, current.updated_by = value, reason, user
            current.save()
            ConfigChange.objects.create(
                key=key,
                action=action,
                old_value=old_value,
                new_value=value,
                reason=reason,
                changed_by=user,
            )
    except IntegrityError as exc:
        # Two first-time saves of one key race on the unique key: the later loses.
        raise OverrideConflictError(
            f"{key} was overridden by another operator at the same moment; "
            "reload the page and apply your change again"
        ) from exc
    config.invalidate()
    return current


def config_override_clear(
    *,
    key: str,
    reason: str,
    user: AbstractBaseUser | None,
    expected_revision: int | None = None,
    action: str = ConfigChange.Action.CLEAR,
) -> None:
    """Remove an override so the environment value applies again, and record it."""
    _check_key(key)
    with transaction.atomic():
        current = _locked_current(key, expected_revision)
        if current is None:
            return
        ConfigChange.objects.create(
            key=key,
            action=action,
            old_value=current.value,
            new_value=None,
            reason=reason,
            changed_by=user,
        )
        current.delete()
    config.invalidate()


def config_change_rollback(
    *, change: ConfigChange, user: AbstractBaseUser | None
) -> ConfigChange:
    """Restore the value a history entry set (or no override); return the new entry."""
    when = f"{change.created_at:%Y-%m-%d %H:%M:%S}"
    reason = f"Rollback to the value set at {when} (#{change.pk})"
    if change.new_value is None:
        config_override_clear(
            key=change.key,
            reason=reason,
            user=user,
            action=ConfigChange.Action.ROLLBACK,
        )
    else:
        config_override_set(
            key=change.key,
            raw_value=change.new_value,
            reason=reason,
            user=user,
            action=ConfigChange.Action.ROLLBACK,
        )
    return ConfigChange.objects.filter(key=change.key).first()
