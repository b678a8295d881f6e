"""Admin for bus messages, their event trail and the bus overview."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from bus.apps import bus_app
from bus.models import BusEvent, Message
from bus.store import services
from controlplane.admin_base import AppendOnlyAdmin


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
        "transaction_id",
        "agent",
        "tool_name",
        "provider_name",
        "status",
        "size",
        "stored_size",
        "compression_type",
        "ratio",
        "created_at",
        "expires_at",
        "is_expired",
    ]
    list_filter = [
        "status",
        "tool_name",
        "provider_name",
        "compression_type",
        ExpiredFilter,
    ]
    search_fields = ["transaction_id", "session_id", "tool_name", "agent__name"]
    list_select_related = ["agent"]
    date_hierarchy = "created_at"
    actions = ["expire_now"]
    change_list_template = "admin/bus/message/change_list.html"
    fields = [
        "transaction_id",
        "agent",
        "session_id",
        "tool_name",
        "provider_name",
        "status",
        "error_message",
        "size",
        "stored_size",
        "compression_type",
        "ratio",
        "checksum",
        "created_at",
        "accessed_at",
        "expires_at",
        "metadata",
        "download",
    ]
    readonly_fields = fields

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

    @admin.display(description="size", ordering="payload_size_bytes")
    def size(self, obj: Message) -> str:
        return filesizeformat(obj.payload_size_bytes)

    @admin.display(description="stored", ordering="compressed_size_bytes")
    def stored_size(self, obj: Message) -> str:
        return filesizeformat(obj.compressed_size_bytes)

    @admin.display(description="ratio")
    def ratio(self, obj: Message) -> str:
        if not obj.payload_size_bytes:
            return "-"
        return f"{obj.compressed_size_bytes / obj.payload_size_bytes:.2f}"

    @admin.display(description="expired", boolean=True)
    def is_expired(self, obj: Message) -> bool:
        return obj.is_expired

    @admin.display(description="payload")
    def download(self, obj: Message) -> str:
        url = reverse("bus:admin-download", args=[obj.pk])
        return format_html('<a href="{}">Download the JSON result</a>', url)

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

    list_display = ["created_at", "kind", "transaction_id", "agent_name", "detail"]
    list_filter = ["kind"]
    search_fields = ["transaction_id", "agent_name"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "kind", "transaction_id", "agent_name", "detail"]
