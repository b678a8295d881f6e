"""Audit report pages."""

app_name = "audit"
urlpatterns: list = []
