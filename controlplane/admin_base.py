"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.http import HttpRequest


class AppendOnlyAdmin(admin.ModelAdmin):
    """A trail operators read but never add to, edit or delete from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
