"""How bus messages and events read on the operator's pages (admin, overview).

Events keep names, not keys, so their links are resolved by value
(selectors.with_links annotates message_pk and agent_pk).
"""

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from bus.models import BusEvent, Message
from controlplane.units import format_bytes

# Lists show this much of a transaction id; the full id is in its tooltip, on
# the message's page and found by the search.
TRANSACTION_SHOWN_CHARS = 10
# Event detail keys whose values are byte counts, with their labels: "size" is
# a result's own (uncompressed) size, "stored" what it takes in the table.
SIZE_LABELS = {
    "size_bytes": "size",
    "payload_bytes": "size",
    "compressed_size_bytes": "stored",
    "bytes": "stored",
}


def agent_link(agent_pk: int | None, name: str) -> SafeString | str:
    """Link an agent's name to its token, or show the name when the token is gone."""
    if not name:
        return "-"
    if agent_pk is None:
        return name
    url = reverse("admin:controlplane_agenttoken_change", args=[agent_pk])
    return format_html('<a href="{}">{}</a>', url, name)


def message_state(message: Message) -> SafeString:
    """Show status, with expiry (past or by hand) as a red badge, never a tick."""
    if message.is_expired:
        return format_html('<span class="bus-state bus-expired">{}</span>', "expired")
    if message.status == Message.Status.ERROR:
        return format_html('<span class="bus-state bus-error">{}</span>', "error")
    return format_html('<span class="bus-state">{}</span>', message.status)


def event_detail(event: BusEvent) -> SafeString | str:
    """Render an event's detail as labelled fields, sizes in binary units."""
    if not event.detail:
        return "-"
    fields = []
    for key, value in sorted(event.detail.items()):
        if key in SIZE_LABELS and isinstance(value, int):
            fields.append((SIZE_LABELS[key], format_bytes(value)))
        else:
            fields.append((key.replace("_", " "), str(value)))
    return format_html(
        '<dl class="bus-detail">{}</dl>',
        format_html_join("", "<dt>{}</dt><dd>{}</dd>", fields),
    )


def event_actor(event: BusEvent) -> SafeString | str:
    """Name who caused an event: the agent (linked), an operator, or the system."""
    operator = (event.detail or {}).get("operator")
    if operator:
        return format_html("operator <strong>{}</strong>", operator)
    if event.agent_name:
        return agent_link(getattr(event, "agent_pk", None), event.agent_name)
    return "system"


def short_transaction(transaction_id: str) -> SafeString:
    """Show the start of a transaction id, the whole of it in the tooltip."""
    return format_html(
        '<code title="{}">{}…</code>',
        transaction_id,
        transaction_id[:TRANSACTION_SHOWN_CHARS],
    )


def event_transaction(event: BusEvent) -> SafeString | str:
    """Link an event's transaction (shortened) to its message while the row exists."""
    if not event.transaction_id:
        return "-"
    message_pk = getattr(event, "message_pk", None)
    if message_pk is None:
        return format_html(
            '<span title="purged or acked">{} (gone)</span>',
            short_transaction(event.transaction_id),
        )
    url = reverse("admin:bus_message_change", args=[message_pk])
    return format_html(
        '<a href="{}">{}</a>', url, short_transaction(event.transaction_id)
    )
