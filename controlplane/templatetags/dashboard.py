"""The admin home's state panel, as a tag the admin index template includes."""

from typing import Any

from django import template

from controlplane.dashboard import dashboard_state

register = template.Library()


@register.inclusion_tag("admin/dashboard.html")
def dashboard_panel() -> dict[str, Any]:
    """Render the breaker, sessions, capacity, calls, bus and audit figures."""
    return {"d": dashboard_state()}
