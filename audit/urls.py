"""Audit report pages."""

from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/file/", views.run_file, name="run-file"),
    path("runs/<int:pk>/export.<str:fmt>", views.run_export, name="run-export"),
    path("runs/<int:pk>/config.<str:part>", views.run_config, name="run-config"),
]
