"""Operators see, override, audit and roll back configuration in the admin."""

import threading
import time

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection, transaction
from django.urls import reverse

from controlplane import config
from controlplane.models import ConfigChange, ConfigOverride
from controlplane.services import config_override_set

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:controlplane_configoverride_add")
LIST_URL = reverse("admin:controlplane_configoverride_changelist")


def _add(client, key: str, value: str, reason: str = "tuning", revision: int = 0):
    return client.post(
        ADD_URL, {"key": key, "value": value, "reason": reason, "revision": revision}
    )


def test_changelist__shows_every_key_with_value_source_and_help(admin_client_logged_in):
    page = admin_client_logged_in.get(LIST_URL).content.decode()
    for key in config.FIELDS:
        assert f"<code>{key}</code>" in page
    assert "Calls one session may have in flight." in page
    assert "django-insecure" not in page  # secrets are masked
    assert "********" in page


def test_add__valid_override_takes_effect_and_is_recorded(
    admin_client_logged_in, staff_user
):
    response = _add(admin_client_logged_in, "WS_SESSION_MAX_INFLIGHT", "4")
    assert response.status_code == 302
    assert config.get_config().WS_SESSION_MAX_INFLIGHT == 4
    change = ConfigChange.objects.get()
    assert (change.old_value, change.new_value, change.changed_by) == (
        None,
        "4",
        staff_user,
    )
    page = admin_client_logged_in.get(LIST_URL).content.decode()
    assert "<strong>override</strong>" in page


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("WS_SESSION_MAX_INFLIGHT", "many", "must be an integer from 1 to 10000"),
        ("WS_SESSION_MAX_INFLIGHT", "0", "must be an integer from 1 to 10000"),
        ("MESSAGE_BUS_COMPRESSION", "lz4", "must be one of zstd, gzip, none"),
        ("FALLBACK_TO_WEBSOCKET", "perhaps", "must be true or false"),
    ],
)
def test_add__invalid_value_is_refused_naming_the_rule(
    admin_client_logged_in, key, value, message
):
    response = _add(admin_client_logged_in, key, value)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ConfigOverride.objects.exists()


def test_add__non_overridable_key_is_not_offered(admin_client_logged_in):
    response = _add(admin_client_logged_in, "WS_MAX_MESSAGE_BYTES", "1048576")
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_change__later_of_two_concurrent_edits_gets_a_conflict(admin_client_logged_in):
    _add(admin_client_logged_in, "WS_CALL_TIMEOUT_SECS", "60")
    override = ConfigOverride.objects.get()
    url = reverse("admin:controlplane_configoverride_change", args=[override.pk])
    form = {"key": override.key, "reason": "r", "revision": override.revision}
    first = admin_client_logged_in.post(url, {**form, "value": "90"})
    second = admin_client_logged_in.post(url, {**form, "value": "120"})
    assert first.status_code == 302
    assert second.status_code == 200
    assert "Conflict: WS_CALL_TIMEOUT_SECS was changed by" in second.content.decode()
    assert ConfigOverride.objects.get().value == "90"


LOCK_WAIT_TIMEOUT_SECS = 10


def _another_operator_saves(key: str, value: str, revision: int) -> threading.Event:
    """Save key in a thread that commits only once another save waits on its lock."""
    locked = threading.Event()

    def save() -> None:
        try:
            with transaction.atomic():
                config_override_set(
                    key=key,
                    raw_value=value,
                    reason="first operator",
                    user=None,
                    expected_revision=revision,
                )
                locked.set()
                deadline = time.monotonic() + LOCK_WAIT_TIMEOUT_SECS
                with connection.cursor() as cursor:
                    while time.monotonic() < deadline:
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock'"
                        )
                        if cursor.fetchone()[0]:
                            break
                        time.sleep(0.01)
        finally:
            connection.close()

    threading.Thread(target=save, daemon=True).start()
    assert locked.wait(LOCK_WAIT_TIMEOUT_SECS)
    return locked


@pytest.mark.django_db(transaction=True)
def test_change__loser_of_a_simultaneous_save_sees_only_the_conflict(
    admin_client_logged_in,
):
    """Both forms validate; the loser's save waits on the winner's row lock."""
    _add(admin_client_logged_in, "WS_CALL_TIMEOUT_SECS", "60")
    override = ConfigOverride.objects.get()
    url = reverse("admin:controlplane_configoverride_change", args=[override.pk])
    _another_operator_saves(override.key, "90", override.revision)
    response = admin_client_logged_in.post(
        url,
        {"key": override.key, "value": "120", "reason": "r", "revision": 1},
        follow=True,
    )
    page = response.content.decode()
    assert "Not saved. WS_CALL_TIMEOUT_SECS was changed by" in page
    assert "changed successfully" not in page
    assert ConfigOverride.objects.get().value == "90"
    assert not LogEntry.objects.filter(action_flag=CHANGE).exists()


def test_history_rollback__restores_an_earlier_value_in_one_action(
    admin_client_logged_in,
):
    _add(admin_client_logged_in, "WS_RESULT_TTL_SECS", "100")
    override = ConfigOverride.objects.get()
    url = reverse("admin:controlplane_configoverride_change", args=[override.pk])
    admin_client_logged_in.post(
        url, {"key": override.key, "value": "200", "reason": "r", "revision": 1}
    )
    assert config.get_config().WS_RESULT_TTL_SECS == 200
    first_change = ConfigChange.objects.order_by("id").first()
    history_url = reverse("admin:controlplane_configchange_changelist")
    page = admin_client_logged_in.get(history_url).content.decode()
    assert "WS_RESULT_TTL_SECS" in page
    response = admin_client_logged_in.post(
        history_url,
        {"action": "rollback", "_selected_action": [first_change.pk]},
        follow=True,
    )
    assert "WS_RESULT_TTL_SECS rolled back to 100" in response.content.decode()
    assert config.get_config().WS_RESULT_TTL_SECS == 100
    assert ConfigChange.objects.first().action == ConfigChange.Action.ROLLBACK


def test_delete__removes_override_and_records_it(admin_client_logged_in):
    _add(admin_client_logged_in, "WS_COMPAT_TEXT", "false")
    assert config.get_config().WS_COMPAT_TEXT is False
    override = ConfigOverride.objects.get()
    url = reverse("admin:controlplane_configoverride_delete", args=[override.pk])
    admin_client_logged_in.post(url, {"post": "yes"})
    assert config.get_config().WS_COMPAT_TEXT is True
    assert ConfigChange.objects.first().action == ConfigChange.Action.CLEAR


def test_changelist__overrides_first_highlighted_then_areas(admin_client_logged_in):
    _add(admin_client_logged_in, "WS_CALL_TIMEOUT_SECS", "60", reason="slow tools")
    _add(admin_client_logged_in, "WS_MAX_BUFFERED_BYTES", "2097152")
    page = admin_client_logged_in.get(LIST_URL).content.decode()
    overridden = page.index('id="area-overridden-now"')
    assert (
        overridden
        < page.index('id="area-general"')
        < page.index('id="area-message-bus"')
    )
    assert page.index('id="key-WS_CALL_TIMEOUT_SECS"') < page.index('id="area-general"')
    assert 'class="source-override is-override"' in page
    assert "slow tools" in page
    override = ConfigOverride.objects.get(key="WS_CALL_TIMEOUT_SECS")
    edit = reverse("admin:controlplane_configoverride_change", args=[override.pk])
    remove = reverse("admin:controlplane_configoverride_delete", args=[override.pk])
    assert f'<a href="{edit}">Edit</a>' in page
    assert f'<a href="{remove}">Remove</a>' in page
    assert '<span class="human">= 2 MiB</span>' in page
    assert '<span class="human">= 1 MiB</span>' in page  # the bus threshold
    history = reverse("admin:controlplane_configchange_changelist")
    assert f"{history}?key=WS_CALL_TIMEOUT_SECS" in page


def test_add_form__booleans_and_choices_are_selects(admin_client_logged_in):
    page = admin_client_logged_in.get(ADD_URL + "?key=FALLBACK_TO_WEBSOCKET")
    html = page.content.decode()
    assert '<select name="value"' in html
    assert '<option value="true" selected>true</option>' in html
    choices = admin_client_logged_in.get(ADD_URL + "?key=MESSAGE_BUS_COMPRESSION")
    html = choices.content.decode()
    assert '<option value="gzip">gzip</option>' in html
    assert '<option value="zstd" selected>zstd</option>' in html
    number = admin_client_logged_in.get(ADD_URL + "?key=WS_SESSION_MAX_INFLIGHT")
    assert '<input type="text" name="value" value="8"' in number.content.decode()


def test_add_form__reflects_the_key_given(admin_client_logged_in):
    """The form for another key has that key's help, default and current value."""
    first = admin_client_logged_in.get(ADD_URL + "?key=WS_CALL_TIMEOUT_SECS")
    second = admin_client_logged_in.get(
        ADD_URL + "?key=MESSAGE_BUS_THRESHOLD_BYTES&reason=bigger"
    )
    html = second.content.decode()
    assert "Timeout of a tool call" in first.content.decode()
    assert "Timeout of a tool call" not in html
    assert "Results larger than this" in html
    assert "Bytes (1 MiB = 1048576)." in html
    assert 'name="value" value="1048576"' in html
    assert 'name="reason" value="bigger"' in html


def test_history__reason_and_old_new_with_a_link_to_the_key(admin_client_logged_in):
    _add(admin_client_logged_in, "WS_RESULT_TTL_SECS", "100", reason="r" * 300)
    history = reverse("admin:controlplane_configchange_changelist")
    page = admin_client_logged_in.get(history).content.decode()
    assert "r" * 300 in page
    assert "<code>(none)</code> → <code>100</code>" in page
    assert f'<a href="{LIST_URL}#key-WS_RESULT_TTL_SECS">' in page


def test_history__sizes_have_binary_units_beside_them(admin_client_logged_in):
    _add(admin_client_logged_in, "MESSAGE_BUS_THRESHOLD_BYTES", "2097152")
    history = reverse("admin:controlplane_configchange_changelist")
    page = admin_client_logged_in.get(history).content.decode()
    assert "<code>(none)</code> → <code>2097152 (2 MiB)</code>" in page
