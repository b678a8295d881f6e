"""The filter of a run's findings list: severity, rule, triage status, path."""

from __future__ import annotations

from django import forms

from audit.analysis import RULES_BY_CODE
from audit.models import SeverityChoices, TriageStatus

ANY = ("", "any")


class FindingFilterForm(forms.Form):
    """Narrow a run's findings; an empty field does not filter."""

    severity = forms.ChoiceField(
        required=False, choices=[ANY, *SeverityChoices.choices]
    )
    code = forms.ChoiceField(required=False, label="Rule")
    status = forms.ChoiceField(required=False, choices=[ANY, *TriageStatus.choices])
    path = forms.CharField(
        required=False,
        max_length=1000,
        label="Path contains",
        widget=forms.TextInput(attrs={"size": 28, "placeholder": "e.g. bus/gateway"}),
    )

    def __init__(self, *args: object, rule_counts: list[tuple[str, int]], **kwargs):
        """Offer the rules the run has findings of, each with its name and count."""
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [ANY] + [
            (code, f"{code} {RULES_BY_CODE[code].name} ({count})")
            if code in RULES_BY_CODE
            else (code, f"{code} ({count})")
            for code, count in rule_counts
        ]

    def filters(self) -> dict[str, str]:
        """Return the valid, non-empty filters (none while the form is invalid)."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}
