"""Admin building blocks shared by the apps."""

from django.contrib import admin
from django.http import HttpRequest

# Static assets of the admin pages: the page style, and the script that shows
# times (controlplane.units.local_time) in the operator's zone.
ADMIN_CSS = "controlplane/admin.css"
LOCAL_TIME_JS = "controlplane/local_time.js"


class AppendOnlyAdmin(admin.ModelAdmin):
    """A trail operators read but never add to, edit or delete from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
