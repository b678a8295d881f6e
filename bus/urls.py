"""Bus HTTP routes: claim-check fetch and release, and the operators' overview."""

from django.urls import path

from bus.store import views

app_name = "bus"
urlpatterns = [
    path("overview/", views.overview, name="overview"),
    path("admin/<int:pk>/download/", views.admin_download, name="admin-download"),
    path("<str:transaction_id>/", views.message, name="message"),
]
