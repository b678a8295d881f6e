"""Admin for providers, tools, agent tokens and live capacity."""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from bus.apps import bus_app
from bus.gateway.registry import schema_error
from bus.models import Provider, Tool
from controlplane.config import get_config
from controlplane.models import AgentToken
from controlplane.tokens import agent_token_create, agent_token_revoke

CAPACITY_REFRESH_SECS = 5


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """Providers group tools under one concurrency limit."""

    list_display = ["name", "max_inflight", "enabled", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    change_list_template = "admin/bus/provider/change_list.html"

    def save_model(
        self, request: HttpRequest, obj: Provider, form: forms.Form, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        bus_app().gateway.registry.invalidate()

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.capacity_view)
        return [path("capacity/", view, name="bus_capacity")] + super().get_urls()

    def capacity_view(self, request: HttpRequest) -> HttpResponse:
        """Show slots used of available per scope and the recent rejections."""
        gateway = bus_app().gateway
        snapshot = async_to_sync(gateway.capacity_snapshot)(
            get_config(), gateway.registry.get()
        )
        sessions = dict(gateway.sessions)
        rows = [
            {
                "usage": usage,
                "session": sessions.get(usage.name),
            }
            for usage in snapshot.sessions
        ]
        now = time.time()
        context = {
            **self.admin_site.each_context(request),
            "title": "Live capacity",
            "snapshot": snapshot,
            "session_rows": rows,
            "rejections": [
                {"ago": now - record.at, "record": record}
                for record in snapshot.rejections
            ],
            "refresh_secs": CAPACITY_REFRESH_SECS,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bus/capacity.html", context)


class ToolForm(forms.ModelForm):
    """Check the schema is a valid JSON Schema and the target fits the kind."""

    class Meta:
        model = Tool
        fields = [
            "name",
            "description",
            "kind",
            "target",
            "provider",
            "input_schema",
            "timeout_secs",
            "idempotent",
            "enabled",
        ]

    def clean_input_schema(self) -> dict[str, Any]:
        schema = self.cleaned_data.get("input_schema") or {}
        if not isinstance(schema, dict):
            raise forms.ValidationError("The input schema must be a JSON object.")
        problem = schema_error(schema)
        if problem is not None:
            raise forms.ValidationError(f"Not a valid JSON Schema: {problem}")
        return schema

    def clean_timeout_secs(self) -> float | None:
        timeout = self.cleaned_data.get("timeout_secs")
        if timeout is not None and timeout <= 0:
            raise forms.ValidationError("A timeout must be positive (or empty).")
        return timeout

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, target = cleaned.get("kind"), cleaned.get("target")
        if not target:
            return cleaned
        if kind == Tool.Kind.HTTP:
            try:
                URLValidator(schemes=["http", "https"])(target)
            except forms.ValidationError:
                self.add_error("target", "An http tool needs an http(s) URL.")
        else:
            try:
                function = import_string(target)
            except ImportError:
                self.add_error("target", f"Cannot import {target}.")
            else:
                if not callable(function):
                    self.add_error("target", f"{target} is not callable.")
        return cleaned


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    """Tools as agents see them in list_tools."""

    form = ToolForm
    list_display = [
        "name",
        "kind",
        "provider",
        "timeout_secs",
        "idempotent",
        "enabled",
        "updated_at",
    ]
    list_filter = ["kind", "enabled", "idempotent", "provider"]
    search_fields = ["name", "description", "target"]

    def save_model(
        self, request: HttpRequest, obj: Tool, form: forms.Form, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        bus_app().gateway.registry.invalidate()

    def delete_model(self, request: HttpRequest, obj: Tool) -> None:
        super().delete_model(request, obj)
        bus_app().gateway.registry.invalidate()


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
        "status",
        "expires_at",
        "last_used_at",
        "allowed",
        "created_at",
    ]
    search_fields = ["name"]
    readonly_fields = ["created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description="status")
    def status(self, obj: AgentToken) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if obj.expires_at is not None and obj.expires_at <= timezone.now():
            return "expired"
        return "active"

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
        obj.pk = created.pk
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
            if agent.revoked_at is None:
                agent_token_revoke(agent=agent)
                count += 1
        self.message_user(
            request,
            f"Revoked {count} token(s); new connections with them are refused.",
            messages.SUCCESS,
        )
