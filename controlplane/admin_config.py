"""Admin of configuration: the effective values with their overrides (set, edit,
remove), and the history of changes with rollback."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from controlplane import config
from controlplane.admin_base import ADMIN_CSS, LOCAL_TIME_JS, AppendOnlyAdmin
from controlplane.config_page import config_page_groups, recent_changes
from controlplane.exceptions import OverrideConflictError, OverrideError
from controlplane.models import ConfigChange, ConfigOverride
from controlplane.services import (
    config_change_rollback,
    config_override_clear,
    config_override_set,
    config_override_validate,
)
from controlplane.units import local_time


def _key_choices() -> list[tuple[str, str]]:
    return [(key, key) for key in config.overridable_keys()]


def _with_size(key: str, raw: str | None) -> str:
    """Return a stored value as written, a size with its KiB/MiB beside it."""
    if raw is None:
        return "(none)"
    if key not in config.FIELDS or not config.is_size(key):
        return raw
    try:
        return f"{raw} ({config.human_value(key, config.parse_value(key, raw))})"
    except ValueError:
        # The system check reports invalid rows (controlplane.W002); here the
        # raw text is shown as it is, without a size beside it.
        return raw


class ConfigOverrideForm(forms.ModelForm):
    """Validate a value against the key's rule and refuse stale edits."""

    key = forms.ChoiceField(choices=_key_choices)
    value = forms.CharField(
        help_text="As in .env: true/false, a number, a choice, or a,b,c for lists."
    )
    reason = forms.CharField(max_length=500, help_text="Why: kept in the history.")
    revision = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ConfigOverride
        fields = ["key", "value", "reason"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["key"].disabled = True
            self.fields["revision"].initial = self.instance.revision
            self.fields["reason"].initial = ""
        else:
            self.fields["revision"].initial = 0
        key = self.data.get("key") or self.initial.get("key")
        if key in config.FIELDS:
            self._fit_value_to(key)

    def _fit_value_to(self, key: str) -> None:
        """Give the value the key's widget (a select for choices) and its help."""
        spec, default = config.spec_of(key), config.default_of(key)
        choices = ("true", "false") if isinstance(default, bool) else spec.choices
        if choices:
            self.fields["value"].widget = forms.Select(
                choices=[(choice, choice) for choice in choices]
            )
        shown = config.render_value(key, default)
        human = config.human_value(key, default)
        unit = f" Bytes ({human} = {shown})." if human else ""
        rule = config.describe_rule(key)
        self.fields[
            "value"
        ].help_text = f"{spec.help} Rule: {rule}. Default: {shown}.{unit}"

    def clean(self) -> dict:
        cleaned = super().clean()
        key, raw = cleaned.get("key"), cleaned.get("value")
        if key and raw is not None:
            try:
                cleaned["value"] = config_override_validate(key=key, raw_value=raw)
            except OverrideError as exc:
                self.add_error("value", str(exc))
        if key:
            stored = ConfigOverride.objects.filter(key=key).first()
            stored_revision = stored.revision if stored else 0
            if (
                cleaned.get("revision") is not None
                and cleaned["revision"] != stored_revision
            ):
                raise forms.ValidationError(
                    f"Conflict: {key} was changed by "
                    f"{(stored.updated_by if stored else None) or 'another operator'} "
                    "after you opened this page. Reload and apply your change again.",
                    code="conflict",
                )
        return cleaned

    def validate_unique(self) -> None:
        # A second "add" of an existing key is a conflict, reported by clean().
        return None


@admin.register(ConfigOverride)
class ConfigOverrideAdmin(admin.ModelAdmin):
    """Effective configuration and the overrides an operator sets on it."""

    form = ConfigOverrideForm
    list_display = ["key", "value_shown", "reason", "updated_by", "updated", "revision"]
    search_fields = ["key", "reason"]
    change_list_template = "admin/controlplane/configoverride/change_list.html"
    actions = ["clear_overrides"]

    class Media:
        js = [LOCAL_TIME_JS, "controlplane/override_form.js"]
        css = {"all": [ADMIN_CSS]}

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "groups": config_page_groups(),
            "changes": recent_changes(),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description="value", ordering="value")
    def value_shown(self, obj: ConfigOverride) -> str:
        return _with_size(obj.key, obj.value)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: ConfigOverride) -> SafeString | str:
        return local_time(obj.updated_at)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        key = initial.get("key")
        if key in config.FIELDS:
            initial["value"] = config.render_value(
                key, getattr(config.get_config(), key), reveal=True
            )
        return initial

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except OverrideConflictError as exc:
            # Lost a race after the form validated. Raised out of save_model so the
            # admin neither logs a change nor adds its "changed successfully".
            messages.error(request, f"Not saved. {exc}")
            return HttpResponseRedirect(request.get_full_path())

    def save_model(
        self, request: HttpRequest, obj: ConfigOverride, form: forms.Form, change: bool
    ) -> None:
        """Save through the service; a lost race raises OverrideConflictError."""
        saved = config_override_set(
            key=form.cleaned_data["key"],
            raw_value=form.cleaned_data["value"],
            reason=form.cleaned_data["reason"],
            user=request.user,
            expected_revision=form.cleaned_data.get("revision"),
        )
        obj.pk, obj.revision = saved.pk, saved.revision

    def delete_model(self, request: HttpRequest, obj: ConfigOverride) -> None:
        config_override_clear(
            key=obj.key, reason="Deleted in the admin", user=request.user
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for override in queryset:
            self.delete_model(request, override)

    @admin.action(
        description="Remove the selected overrides (environment values apply)"
    )
    def clear_overrides(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.delete_queryset(request, queryset)
        self.message_user(request, f"Removed {queryset.count()} override(s).")


@admin.register(ConfigChange)
class ConfigChangeAdmin(AppendOnlyAdmin):
    """Append-only history of overrides, with one-click rollback."""

    list_display = ["when", "key_link", "action", "change", "changed_by", "reason"]
    list_filter = ["key", "action"]
    search_fields = ["key", "reason"]
    actions = ["rollback"]

    class Media:
        js = [LOCAL_TIME_JS]
        css = {"all": [ADMIN_CSS]}

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: ConfigChange) -> SafeString | str:
        return local_time(obj.created_at)

    @admin.display(description="key", ordering="key")
    def key_link(self, obj: ConfigChange) -> SafeString:
        url = reverse("admin:controlplane_configoverride_changelist")
        return format_html(
            '<a href="{}#key-{}"><code>{}</code></a>', url, obj.key, obj.key
        )

    @admin.display(description="old → new")
    def change(self, obj: ConfigChange) -> SafeString:
        return format_html(
            "<code>{}</code> → <code>{}</code>",
            _with_size(obj.key, obj.old_value),
            _with_size(obj.key, obj.new_value),
        )

    def get_actions(self, request: HttpRequest) -> dict:
        # Rollback changes overrides, so it needs that permission, not this model's.
        actions = super().get_actions(request)
        if not request.user.has_perm("controlplane.change_configoverride"):
            actions.pop("rollback", None)
        return actions

    @admin.action(description="Roll back to the value set by the selected entry")
    def rollback(self, request: HttpRequest, queryset: QuerySet) -> None:
        if queryset.count() != 1:
            self.message_user(
                request,
                "Select exactly one history entry to roll back to.",
                messages.ERROR,
            )
            return
        change = queryset.get()
        try:
            config_change_rollback(change=change, user=request.user)
        except OverrideError as exc:
            self.message_user(request, f"Rollback refused: {exc}", messages.ERROR)
            return
        shown = change.new_value if change.new_value is not None else "(no override)"
        self.message_user(request, f"{change.key} rolled back to {shown}.")
