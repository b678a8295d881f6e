"""Project URLs: admin, health, audit pages and the bus HTTP views."""

from django.contrib import admin
from django.urls import include, path

from controlplane import views

admin.site.site_header = "Agent tool control plane"
admin.site.site_title = "Control plane admin"
# There is no public site behind the admin: no "View site" link leading to a 404.
admin.site.site_url = None

urlpatterns = [
    # Before the admin's own URLs, which would take it for an app's page.
    path(
        "admin/dashboard/",
        admin.site.admin_view(views.dashboard),
        name="admin-dashboard",
    ),
    path("admin/", admin.site.urls),
    path("health/", views.HealthView.as_view(), name="health"),
    path("health/live", views.live, name="health-live"),
    path("health/ready", views.ReadyView.as_view(), name="health-ready"),
    path("audit/", include("audit.urls")),
    path("metrics", views.metrics, name="metrics"),
    path("bus/", include("bus.urls")),
]
