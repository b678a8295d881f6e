"""What the admin's effective-configuration page shows: overrides first, then areas.

A selector for the page: every key with its effective value, grouped by area,
with the links of its row (override, edit, remove, history).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from controlplane import config
from controlplane.models import ConfigChange, ConfigOverride

OVERRIDDEN_TITLE = "Overridden now"
RECENT_CHANGES = 10


@dataclass(frozen=True)
class ConfigRow:
    """One key on the page, with what an operator can do from its row."""

    item: config.EffectiveValue
    override: ConfigOverride | None

    @property
    def is_override(self) -> bool:
        """Return whether an override sets this key now."""
        return self.item.source == config.Source.OVERRIDE

    @property
    def add_url(self) -> str:
        """Return the override form for this key, prefilled."""
        base = reverse("admin:controlplane_configoverride_add")
        return f"{base}?key={self.item.key}"

    @property
    def change_url(self) -> str:
        """Return the edit form of this key's override, "" when there is none."""
        if self.override is None:
            return ""
        return reverse(
            "admin:controlplane_configoverride_change", args=[self.override.pk]
        )

    @property
    def delete_url(self) -> str:
        """Return the removal page of this key's override, "" when there is none."""
        if self.override is None:
            return ""
        return reverse(
            "admin:controlplane_configoverride_delete", args=[self.override.pk]
        )

    @property
    def history_url(self) -> str:
        """Return this key's history of changes."""
        base = reverse("admin:controlplane_configchange_changelist")
        return f"{base}?key={self.item.key}"


@dataclass(frozen=True)
class ConfigGroup:
    """An area of keys (or the overridden ones), with an anchor for its heading."""

    title: str
    rows: list[ConfigRow]

    @property
    def anchor(self) -> str:
        """Return the id of the group's heading."""
        return "area-" + self.title.lower().replace(" ", "-")


def config_page_groups() -> list[ConfigGroup]:
    """Return the overridden keys first, then every other key by area."""
    overrides = {
        row.key: row for row in ConfigOverride.objects.select_related("updated_by")
    }
    rows = [
        ConfigRow(item=item, override=overrides.get(item.key))
        for item in config.effective_values()
    ]
    groups = [ConfigGroup(OVERRIDDEN_TITLE, [row for row in rows if row.is_override])]
    for area in config.area_names():
        members = [row for row in rows if not row.is_override and row.item.area == area]
        if members:
            groups.append(ConfigGroup(area, members))
    return groups


def recent_changes() -> list[ConfigChange]:
    """Return the newest changes of overrides, newest first."""
    return list(ConfigChange.objects.select_related("changed_by")[:RECENT_CHANGES])
