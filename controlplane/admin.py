"""Admin for agent tokens (created once, revocable); the configuration admins
live in admin_config and are registered from here, as Django looks for admin.py."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from bus.models import Tool
from controlplane.admin_base import ADMIN_CSS, LOCAL_TIME_JS
from controlplane.admin_config import (
    ConfigChangeAdmin,
    ConfigOverrideAdmin,
    ConfigOverrideForm,
)
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_token_revoke
from controlplane.units import local_time

__all__ = [
    "AgentTokenAdmin",
    "AgentTokenForm",
    "ConfigChangeAdmin",
    "ConfigOverrideAdmin",
    "ConfigOverrideForm",
    "TokenStatusFilter",
]


class TokenStatusFilter(admin.SimpleListFilter):
    """Filter tokens by status now: active, revoked or expired."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(AgentToken.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in AgentToken.Status.values:
            return queryset.with_status(self.value())
        return queryset


class AgentTokenForm(forms.ModelForm):
    """Name, optional expiry and allowed tools; the token itself is generated."""

    allowed_tools = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tools this agent may list and call; none ticked allows every tool.",
    )

    class Meta:
        model = AgentToken
        fields = ["name", "expires_at", "allowed_tools"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = set(Tool.objects.values_list("name", flat=True))
        names |= set(self.instance.allowed_tools or ())
        self.fields["allowed_tools"].choices = [(name, name) for name in sorted(names)]


@admin.register(AgentToken)
class AgentTokenAdmin(admin.ModelAdmin):
    """Agent tokens: created here (shown once), stored as hashes, revocable."""

    form = AgentTokenForm
    list_display = [
        "name",
        "token_id_shown",
        "status_shown",
        "expires",
        "last_used",
        "allowed",
        "activity",
    ]
    list_filter = [TokenStatusFilter]
    # "^token_hash" finds a token by its identifier (the start of its hash).
    search_fields = ["name", "^token_hash"]
    readonly_fields = [
        "token_id_shown",
        "activity",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    class Media:
        js = [LOCAL_TIME_JS]
        css = {"all": [ADMIN_CSS]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    def get_readonly_fields(
        self, request: HttpRequest, obj: AgentToken | None = None
    ) -> list[str]:
        # Nothing of these exists before the token does: the add form omits them.
        return list(self.readonly_fields) if obj is not None else []

    @admin.display(description="token id", ordering="token_hash")
    def token_id_shown(self, obj: AgentToken) -> SafeString:
        return format_html(
            '<span class="token-id" title="the first characters of the token\'s '
            'SHA-256; not a secret">{}</span>',
            obj.token_id,
        )

    @admin.display(description="status")
    def status_shown(self, obj: AgentToken) -> SafeString:
        return format_html(
            '<span class="token-status token-{}">{}</span>', obj.status, obj.status
        )

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj: AgentToken) -> SafeString | str:
        return local_time(obj.expires_at) if obj.expires_at else "never"

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: AgentToken) -> SafeString | str:
        return local_time(obj.last_used_at) if obj.last_used_at else "never"

    @admin.display(description="activity", ordering="message_count")
    def activity(self, obj: AgentToken) -> SafeString:
        # One cell for every link to the agent's records keeps the list within
        # 1400 px; a new kind of record adds its link here, not a column.
        messages = reverse("admin:bus_message_changelist")
        calls = reverse("admin:bus_callrecord_changelist")
        links = [
            (f"{calls}?agent__id__exact={obj.pk}", "calls"),
            (f"{messages}?agent__id__exact={obj.pk}", f"{obj.message_count} messages"),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="allowed tools")
    def allowed(self, obj: AgentToken) -> str:
        return ", ".join(obj.allowed_tools) if obj.allowed_tools else "all"

    def save_model(
        self, request: HttpRequest, obj: AgentToken, form: forms.Form, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created, raw = agent_token_create(
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data.get("expires_at"),
            allowed_tools=list(form.cleaned_data.get("allowed_tools") or ()),
            user=request.user,
        )
        obj.pk, obj.token_hash = created.pk, created.token_hash
        # Kept on the request only: rendered once by response_add, never stored.
        request.new_agent_token = raw

    def response_add(
        self,
        request: HttpRequest,
        obj: AgentToken,
        post_url_continue: str | None = None,
    ) -> HttpResponse:
        raw = getattr(request, "new_agent_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Token for {obj.name}",
            "agent": obj,
            "token": raw,
            "opts": self.model._meta,
            "changelist_url": reverse("admin:controlplane_agenttoken_changelist"),
        }
        return TemplateResponse(
            request, "admin/controlplane/agenttoken/token_created.html", context
        )

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for agent in queryset:
            if agent.status != AgentToken.Status.REVOKED:
                agent_token_revoke(agent=agent)
                count += 1
        self.message_user(
            request,
            f"Revoked {count} token(s); new connections with them are refused.",
            messages.SUCCESS,
        )
