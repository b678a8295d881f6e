"""Admin for providers, tools and live capacity."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import URLValidator
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from bus.apps import bus_app
from bus.gateway.live_capacity import live_capacity
from bus.gateway.registry import schema_error
from bus.models import Provider, Tool
from controlplane.config import get_config

logger = logging.getLogger(__name__)

CAPACITY_REFRESH_SECS = 5
# Who may cancel a running call from the page: operators who may change the
# providers' limits, the page's other lever on capacity.
CANCEL_PERMISSION = "bus.change_provider"


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
        cancel = self.admin_site.admin_view(self.cancel_view)
        return [
            path("capacity/", view, name="bus_capacity"),
            path("capacity/cancel/", cancel, name="bus_capacity_cancel"),
        ] + super().get_urls()

    def capacity_view(self, request: HttpRequest) -> HttpResponse:
        """Show the deployment's usage per scope, workers, calls and rejections."""
        gateway = bus_app().gateway
        shared = bool(settings.CONTROLPLANE_BASE_CONFIG.values["REDIS_URL"])
        live = async_to_sync(live_capacity)(
            gateway, config=get_config(), registry=gateway.registry.get(), shared=shared
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Live capacity",
            "live": live,
            "may_cancel": request.user.has_perm(CANCEL_PERMISSION),
            "refresh_secs": CAPACITY_REFRESH_SECS,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/bus/capacity.html", context)

    def cancel_view(self, request: HttpRequest) -> HttpResponse:
        """Cancel one call in flight (POST), then show the capacity page again."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(CANCEL_PERMISSION):
            raise PermissionDenied
        agent_key = request.POST.get("agent_key", "")
        request_id = request.POST.get("request_id", "")
        label = f"{request.POST.get('agent', '')} {request_id}".strip()
        if not (agent_key and request_id):
            messages.error(request, "Name a call to cancel.")
            return redirect("admin:bus_capacity")
        try:
            cancelled = async_to_sync(bus_app().gateway.in_flight.cancel)(
                agent_key, request_id, "cancelled by an operator"
            )
        except RedisError:
            logger.warning("Cannot cancel call %s: Redis unavailable", request_id)
            messages.error(request, f"Cannot cancel {label}: Redis is unavailable.")
            return redirect("admin:bus_capacity")
        logger.info(
            "Operator %s cancelled call %s: %s", request.user, request_id, cancelled
        )
        if cancelled:
            messages.success(request, f"Cancelled {label}; its agent gets CANCELLED.")
        else:
            messages.warning(request, f"{label} is no longer in flight.")
        return redirect("admin:bus_capacity")


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
            "upstream",
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
        elif kind == Tool.Kind.MCP:
            # The target is the tool's name on its upstream, not a path.
            if cleaned.get("upstream") is None:
                self.add_error("upstream", "An mcp tool needs its upstream MCP server.")
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
