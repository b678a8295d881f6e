"""Override services: only registered keys and valid values, each change recorded."""

import pytest

from controlplane import config
from controlplane.exceptions import OverrideError
from controlplane.models import ConfigChange
from controlplane.services import config_override_clear, config_override_set

pytestmark = pytest.mark.django_db


def test_config_override_set__refuses_non_overridable_and_invalid(staff_user):
    with pytest.raises(OverrideError, match="cannot be overridden at run time"):
        config_override_set(
            key="WS_MAX_MESSAGE_BYTES", raw_value="1", reason="x", user=staff_user
        )
    with pytest.raises(OverrideError, match="must be one of zstd, gzip, none"):
        config_override_set(
            key="MESSAGE_BUS_COMPRESSION", raw_value="lz4", reason="x", user=staff_user
        )
    with pytest.raises(OverrideError, match="unknown configuration key"):
        config_override_set(key="NOPE", raw_value="1", reason="x", user=staff_user)
    assert ConfigChange.objects.count() == 0


def test_config_override_clear__restores_environment_value(staff_user):
    config_override_set(
        key="WS_RETRY_AFTER_SECS", raw_value="5", reason="slow", user=staff_user
    )
    assert config.get_config().WS_RETRY_AFTER_SECS == 5.0
    config_override_clear(key="WS_RETRY_AFTER_SECS", reason="done", user=staff_user)
    assert config.get_config().WS_RETRY_AFTER_SECS == 1.0
    assert list(
        ConfigChange.objects.order_by("id").values_list(
            "action", "old_value", "new_value"
        )
    ) == [("set", None, "5"), ("clear", "5", None)]
