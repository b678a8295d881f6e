"""Admin of bus messages and events: lists, filters, read-only, actions, escaping."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from bus.models import BusEvent, Message
from bus.store import services
from controlplane.config import get_config
from tests.bus.conftest import result_json, store_message

MIB = 1024 * 1024


def store(producer, size: int, *, tool: str = "generate") -> Message:
    stored = store_message(producer, result_json(size), tool_name=tool)
    return Message.objects.get(transaction_id=stored.transaction_id)


@pytest.mark.django_db
def test_message_admin__lists_with_human_sizes_and_ratio(
    admin_client_logged_in, producer
) -> None:
    message = store(producer, 2 * MIB)
    response = admin_client_logged_in.get(reverse("admin:bus_message_changelist"))
    page = response.content.decode()
    assert response.status_code == 200
    assert message.transaction_id in page
    assert "2 MiB" in page
    ratio = message.compressed_size_bytes / message.payload_size_bytes
    assert f"zstd {ratio:.0%}" in page
    assert "Circuit breaker: <strong>closed</strong>" in page
    assert reverse("bus:overview") in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=complete", {"live", "old"}),
        ("tool_name=special", {"old"}),
        ("compression_type__exact=zstd", {"live", "old"}),
        ("expired=yes", {"old"}),
        ("expired=no", {"live"}),
    ],
)
def test_message_admin__filters(
    admin_client_logged_in, producer, query: str, expected: set[str]
) -> None:
    live = store(producer, 5000)
    old = store(producer, 5000, tool="special")
    Message.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    names = {live.transaction_id: "live", old.transaction_id: "old"}
    url = reverse("admin:bus_message_changelist") + "?" + query
    page = admin_client_logged_in.get(url).content.decode()
    assert {name for txn, name in names.items() if txn in page} == expected


@pytest.mark.django_db
def test_message_admin__is_read_only_and_links_the_download(
    admin_client_logged_in, producer
) -> None:
    message = store(producer, 5000)
    url = reverse("admin:bus_message_change", args=[message.pk])
    page = admin_client_logged_in.get(url).content.decode()
    assert reverse("bus:admin-download", args=[message.pk]) in page
    assert 'name="tool_name"' not in page
    assert (
        admin_client_logged_in.get(reverse("admin:bus_message_add")).status_code == 403
    )
    delete = reverse("admin:bus_message_delete", args=[message.pk])
    assert admin_client_logged_in.post(delete, {"post": "yes"}).status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()


@pytest.mark.django_db
def test_message_admin__expire_now_action(
    admin_client_logged_in, producer, staff_user
) -> None:
    message = store(producer, 5000)
    response = admin_client_logged_in.post(
        reverse("admin:bus_message_changelist"),
        {"action": "expire_now", "_selected_action": [message.pk]},
        follow=True,
    )
    assert "Expired 1 message(s)" in response.content.decode()
    message.refresh_from_db()
    assert message.status == Message.Status.EXPIRED
    event = BusEvent.objects.get(kind=BusEvent.Kind.EXPIRED)
    assert event.detail == {"by": staff_user.get_username()}


@pytest.mark.django_db
def test_bus_event_admin__lists_filters_and_escapes(
    admin_client_logged_in, producer
) -> None:
    stored = store(producer, 5000)
    BusEvent.objects.create(
        kind=BusEvent.Kind.CHECKSUM_FAILED,
        transaction_id="txn_x",
        agent_name="<script>alert(1)</script>",
    )
    url = reverse("admin:bus_busevent_changelist")
    page = admin_client_logged_in.get(url).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    filtered = admin_client_logged_in.get(url + "?kind__exact=checksum_failed")
    assert "txn_x" in filtered.content.decode()
    assert stored.transaction_id not in filtered.content.decode()
    add = reverse("admin:bus_busevent_add")
    assert admin_client_logged_in.get(add).status_code == 403


@pytest.mark.django_db
def test_message_admin__needs_staff(client, producer) -> None:
    store(producer, 5000)
    response = client.get(reverse("admin:bus_message_changelist"))
    assert response.status_code == 302


@pytest.mark.django_db
def test_message_admin__expired_is_a_red_badge_never_a_tick(
    admin_client_logged_in, producer
) -> None:
    live = store(producer, 5000)
    old = store(producer, 5000)
    Message.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    page = admin_client_logged_in.get(reverse("admin:bus_message_changelist"))
    html = page.content.decode()
    assert html.count('<span class="bus-state bus-expired">expired</span>') == 1
    assert '<span class="bus-state">complete</span>' in html
    assert "icon-yes.svg" not in html and "icon-no.svg" not in html
    token = reverse("admin:controlplane_agenttoken_change", args=[producer.pk])
    assert f'<a href="{token}">{producer.name}</a>' in html
    assert f'title="{live.transaction_id}"' in html
    assert 'class="local-time"' in html and " UTC</time>" in html


@pytest.mark.django_db
def test_message_admin__detail_shows_request_id_preview_and_events(
    admin_client_logged_in, producer, staff_user
) -> None:
    message = store(producer, 3 * MIB)
    Message.objects.filter(pk=message.pk).update(metadata={"request_id": "r-visible"})
    services.message_fetch(
        transaction_id=message.transaction_id,
        agent_id=None,
        config=get_config(),
        operator=staff_user.username,
    )
    url = reverse("admin:bus_message_change", args=[message.pk])
    html = admin_client_logged_in.get(url).content.decode()
    assert "r-visible" in html
    assert '<pre class="bus-preview">{&quot;outputs&quot;: [{&quot;type&quot;' in html
    assert "First 4 KiB of 3 MiB." in html
    assert "<dt>size</dt><dd>3 MiB</dd>" in html
    assert f"operator <strong>{staff_user.username}</strong>" in html
    assert f"<dt>owner</dt><dd>{producer.name}</dd>" in html
    trail = reverse("admin:bus_busevent_changelist") + f"?q={message.transaction_id}"
    assert trail in html


@pytest.mark.django_db
def test_bus_event_admin__fields_and_links_to_message_and_agent(
    admin_client_logged_in, producer
) -> None:
    message = store(producer, 2 * MIB)
    BusEvent.objects.create(kind=BusEvent.Kind.ACKED, transaction_id="txn_" + "0" * 32)
    html = admin_client_logged_in.get(
        reverse("admin:bus_busevent_changelist")
    ).content.decode()
    to_message = reverse("admin:bus_message_change", args=[message.pk])
    to_agent = reverse("admin:controlplane_agenttoken_change", args=[producer.pk])
    short = message.transaction_id[:10]
    assert (
        f'<a href="{to_message}"><code title="{message.transaction_id}">{short}…</code>'
        in html
    )
    assert f'<a href="{to_agent}">{producer.name}</a>' in html
    assert '<span title="purged or acked"><code title="txn_' in html
    assert "<dt>compression</dt><dd>zstd</dd>" in html
    assert "<dt>size</dt><dd>2 MiB</dd>" in html
    assert "{&#x27;" not in html
