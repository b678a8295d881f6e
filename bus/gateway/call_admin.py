"""Admin of the call history: read-only records, filters, links, a detail page."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from bus.models import CallRecord, Message, Tool
from bus.models.calls import OK
from controlplane.admin_base import ADMIN_CSS, LOCAL_TIME_JS, AppendOnlyAdmin
from controlplane.units import format_bytes, local_time

# The time-range filter's choices: label and how far back it reaches.
TIME_RANGES = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}


class TimeRangeFilter(admin.SimpleListFilter):
    """Keep the calls answered within a recent window."""

    title = "time range"
    parameter_name = "since"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [(key, label) for key, (label, _) in TIME_RANGES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        chosen = TIME_RANGES.get(self.value() or "")
        if chosen is None:
            return queryset
        return queryset.filter(created_at__gte=timezone.now() - chosen[1])


class FailedFilter(admin.SimpleListFilter):
    """Split calls into answered with a result and answered with an error."""

    title = "result"
    parameter_name = "result"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("ok", "Succeeded"), ("error", "Failed (any error code)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "ok":
            return queryset.filter(outcome=OK)
        if self.value() == "error":
            return queryset.failed()
        return queryset


class ToolFilter(admin.SimpleListFilter):
    """Filter by a registered tool, or keep the calls of names that matched none.

    Not a filter over the column's distinct values: those include every name a
    client asked for, which a client could make endless.
    """

    title = "tool"
    parameter_name = "tool"
    UNKNOWN = "(unknown)"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        names = Tool.objects.order_by("name").values_list("name", flat=True)
        return [(name, name) for name in names] + [
            (self.UNKNOWN, "Names that matched no tool")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == self.UNKNOWN:
            return queryset.filter(provider_name="")
        if self.value():
            return queryset.filter(tool_name=self.value())
        return queryset


@admin.register(CallRecord)
class CallRecordAdmin(AppendOnlyAdmin):
    """Every answered call: who, which tool, how it ended, how long, where it went."""

    list_display = [
        "answered",
        "agent_link",
        "tool",
        "outcome_label",
        "latency",
        "size",
        "request",
        "bus_link",
    ]
    list_display_links = ["answered"]
    list_filter = [
        TimeRangeFilter,
        FailedFilter,
        "outcome",
        ("agent", admin.RelatedOnlyFieldListFilter),
        ToolFilter,
        "transport",
        "replay",
        "cached",
    ]
    search_fields = ["=request_id", "=transaction_id", "=session_id"]
    search_help_text = "Exact request id, bus transaction id (txn_…) or session id."
    date_hierarchy = "created_at"
    list_per_page = 50
    change_list_template = "admin/bus/callrecord/change_list.html"

    class Media:
        js = [LOCAL_TIME_JS]
        css = {"all": [ADMIN_CSS]}

    fieldsets = [
        (
            "Call",
            {
                "fields": [
                    "answered",
                    "agent_link",
                    "request_id",
                    "tool_name",
                    "provider_name",
                    "outcome_label",
                    "error_message",
                ]
            },
        ),
        (
            "Answer",
            {"fields": ["latency", "size", "bus_link", "replay", "cached"]},
        ),
        ("Where", {"fields": ["transport", "session_link", "worker"]}),
    ]
    readonly_fields = [
        "answered",
        "agent_link",
        "request_id",
        "tool_name",
        "provider_name",
        "outcome_label",
        "error_message",
        "latency",
        "size",
        "bus_link",
        "replay",
        "cached",
        "transport",
        "session_link",
        "worker",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The bus message's pk for its link, in the same query as the page.
        message = Message.objects.filter(transaction_id=OuterRef("transaction_id"))
        return (
            super()
            .get_queryset(request)
            .select_related("agent")
            .annotate(message_pk=Subquery(message.values("pk")[:1]))
        )

    @admin.display(description="answered", ordering="created_at")
    def answered(self, obj: CallRecord) -> str:
        return local_time(obj.created_at)

    @admin.display(description="tool", ordering="tool_name")
    def tool(self, obj: CallRecord) -> str:
        # An unknown tool's name is the client's text, up to 200 characters.
        return format_html(
            '<span class="call-cut" title="{}">{}</span>', obj.tool_name, obj.tool_name
        )

    @admin.display(description="agent", ordering="agent_name")
    def agent_link(self, obj: CallRecord) -> str:
        if obj.agent_id is None:
            return obj.agent_name or "-"
        url = reverse("admin:controlplane_agenttoken_change", args=[obj.agent_id])
        return format_html(
            '<a class="call-cut" href="{}" title="{}">{}</a>',
            url,
            obj.agent_name,
            obj.agent_name,
        )

    @admin.display(description="outcome", ordering="outcome")
    def outcome_label(self, obj: CallRecord) -> str:
        kind = "ok" if obj.succeeded else "error"
        return format_html(
            '<span class="call-outcome call-{}">{}</span>{}',
            kind,
            obj.outcome,
            _served(obj),
        )

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: CallRecord) -> str:
        if obj.latency_ms >= 1000:
            return f"{obj.latency_ms / 1000:.2f} s"
        return f"{obj.latency_ms:.1f} ms"

    @admin.display(description="size", ordering="result_bytes")
    def size(self, obj: CallRecord) -> str:
        return format_bytes(obj.result_bytes)

    @admin.display(description="request", ordering="request_id")
    def request(self, obj: CallRecord) -> str:
        return format_html(
            '<code class="call-request" title="{}">{}</code>',
            obj.request_id,
            obj.request_id,
        )

    @admin.display(description="session")
    def session_link(self, obj: CallRecord) -> str:
        if not obj.session_id:
            return "-"
        url = reverse("admin:bus_callrecord_changelist")
        return format_html(
            '<code>{}</code> (<a href="{}?{}">every call of this session</a>)',
            obj.session_id,
            url,
            urlencode({"q": obj.session_id}),
        )

    @admin.display(description="bus")
    def bus_link(self, obj: CallRecord) -> str:
        if not obj.transaction_id:
            return "-"
        pk = getattr(obj, "message_pk", None)
        if pk is None:
            # Released by its agent or purged: the id is all that is left.
            return format_html("<code>{}</code> (gone)", obj.transaction_id)
        url = reverse("admin:bus_message_change", args=[pk])
        return format_html(
            '<a href="{}" title="{}"><code class="call-txn">{}</code></a>',
            url,
            obj.transaction_id,
            obj.transaction_id,
        )


def _served(obj: CallRecord) -> str:
    """Return the note of an answer that did not run the tool, or ""."""
    if obj.replay:
        return format_html(' <span class="call-served">{}</span>', "replay")
    if obj.cached:
        return format_html(' <span class="call-served">{}</span>', "cached")
    return ""
