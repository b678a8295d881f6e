"""Admin for bus messages, their event trail and the bus overview."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from bus.apps import bus_app
from bus.models import BusEvent, Message
from bus.store import selectors, services
from bus.store.display import (
    agent_link,
    event_actor,
    event_detail,
    event_transaction,
    message_state,
    short_transaction,
)
from controlplane.admin_base import ADMIN_CSS, LOCAL_TIME_JS, AppendOnlyAdmin
from controlplane.units import FULL, format_bytes, local_time

# The detail page shows this much of a result: enough to recognise it, little
# enough that a 100 MiB result costs one bounded decompression.
PREVIEW_BYTES = 4 * 1024


class ExpiredFilter(admin.SimpleListFilter):
    """Split messages into expired (fetches answer EXPIRED) and live ones."""

    title = "expired"
    parameter_name = "expired"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "Expired"), ("no", "Live")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.expired()
        if self.value() == "no":
            return queryset.live()
        return queryset


@admin.register(Message)
class MessageAdmin(AppendOnlyAdmin):
    """Stored claim checks, read-only: download a payload or expire it now.

    Rows leave only through ack, expiry and purge_bus, so the trail stays whole.
    """

    list_display = [
        "transaction",
        "agent_name",
        "tool_name",
        "state",
        "size",
        "created",
        "expires",
    ]
    list_filter = [
        "status",
        ExpiredFilter,
        "tool_name",
        "provider_name",
        "compression_type",
        "agent",
    ]
    search_fields = ["transaction_id", "session_id", "tool_name", "agent__name"]
    list_select_related = ["agent"]
    date_hierarchy = "created_at"
    actions = ["expire_now"]
    change_list_template = "admin/bus/message/change_list.html"
    fields = [
        "transaction_id",
        "agent_name",
        "session_id",
        "request_id",
        "tool_name",
        "provider_name",
        "state",
        "error_message",
        "size",
        "checksum",
        "created",
        "accessed",
        "expires",
        "download",
        "preview",
        "events",
    ]
    readonly_fields = fields

    class Media:
        js = [LOCAL_TIME_JS]
        css = {"all": [ADMIN_CSS]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The payload can be 100 MB: never load it to list or show a row.
        return super().get_queryset(request).defer("payload")

    def has_expire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("bus.delete_message")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "breaker": bus_app().claims.breaker_state,
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction(self, obj: Message) -> SafeString:
        return short_transaction(obj.transaction_id)

    @admin.display(description="agent", ordering="agent__name")
    def agent_name(self, obj: Message) -> SafeString | str:
        return agent_link(obj.agent_id, obj.agent.name if obj.agent_id else "")

    @admin.display(description="request id")
    def request_id(self, obj: Message) -> str:
        return (obj.metadata or {}).get("request_id") or "-"

    @admin.display(description="state", ordering="status")
    def state(self, obj: Message) -> SafeString:
        return message_state(obj)

    @admin.display(description="size (stored)", ordering="payload_size_bytes")
    def size(self, obj: Message) -> SafeString:
        ratio = (
            f"{obj.compressed_size_bytes / obj.payload_size_bytes:.0%}"
            if obj.payload_size_bytes
            else "-"
        )
        return format_html(
            '{} <span class="quiet" title="stored {} with {}, {} of the result">'
            "({} {})</span>",
            format_bytes(obj.payload_size_bytes),
            format_bytes(obj.compressed_size_bytes),
            obj.compression_type,
            ratio,
            obj.compression_type,
            ratio,
        )

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Message) -> SafeString | str:
        return local_time(obj.created_at)

    @admin.display(description="accessed", ordering="accessed_at")
    def accessed(self, obj: Message) -> SafeString | str:
        return local_time(obj.accessed_at, FULL)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: Message) -> SafeString:
        css = "bus-expired-at" if obj.is_expired else ""
        return format_html(
            '<span class="{}">{}</span>', css, local_time(obj.expires_at)
        )

    @admin.display(description="payload")
    def download(self, obj: Message) -> str:
        url = reverse("bus:admin-download", args=[obj.pk])
        return format_html(
            '<a href="{}">Download the JSON result</a> ({}; recorded under your name)',
            url,
            format_bytes(obj.payload_size_bytes),
        )

    @admin.display(description="preview")
    def preview(self, obj: Message) -> SafeString:
        shown = selectors.message_preview(message=obj, limit=PREVIEW_BYTES)
        if shown.problem:
            return format_html('<p class="errornote">{}</p>', shown.problem)
        tail = (
            f"First {format_bytes(PREVIEW_BYTES)} "
            f"of {format_bytes(obj.payload_size_bytes)}."
            if shown.truncated
            else "The whole result."
        )
        return format_html(
            '<pre class="bus-preview">{}</pre><p class="help">{}</p>', shown.text, tail
        )

    @admin.display(description="events")
    def events(self, obj: Message) -> SafeString | str:
        rows = [
            (
                local_time(event.created_at, FULL),
                event.get_kind_display(),
                event_actor(event),
                event_detail(event),
            )
            for event in selectors.message_events(obj.transaction_id)
        ]
        if not rows:
            return "-"
        url = reverse("admin:bus_busevent_changelist") + f"?q={obj.transaction_id}"
        return format_html(
            '<table class="bus-events"><thead><tr><th>when</th><th>event</th>'
            "<th>by</th><th>detail</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">These events in the trail</a></p>',
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
            ),
            url,
        )

    @admin.action(
        description="Expire the selected messages now", permissions=["expire"]
    )
    def expire_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.message_expire(
            message_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(
            request, f"Expired {count} message(s); purge_bus deletes them."
        )


@admin.register(BusEvent)
class BusEventAdmin(AppendOnlyAdmin):
    """The append-only trail of stores, fetches, failures, purges and the breaker."""

    list_display = ["when", "kind", "transaction", "actor", "details"]
    list_filter = ["kind"]
    search_fields = ["transaction_id", "agent_name"]
    date_hierarchy = "created_at"
    fields = ["when", "kind", "transaction", "actor", "details"]
    readonly_fields = fields

    class Media:
        js = [LOCAL_TIME_JS]
        css = {"all": [ADMIN_CSS]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.with_links(super().get_queryset(request))

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: BusEvent) -> SafeString | str:
        return local_time(obj.created_at, FULL)

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction(self, obj: BusEvent) -> SafeString | str:
        return event_transaction(obj)

    @admin.display(description="by", ordering="agent_name")
    def actor(self, obj: BusEvent) -> SafeString | str:
        return event_actor(obj)

    @admin.display(description="detail")
    def details(self, obj: BusEvent) -> SafeString | str:
        return event_detail(obj)
