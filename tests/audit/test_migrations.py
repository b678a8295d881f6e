"""The data migration masks secrets that findings stored before masking existed."""

import importlib

import pytest
from django.apps import apps

from audit.models import AuditRun, Finding
from tests.audit.corpus import leaks

pytestmark = pytest.mark.django_db

migration = importlib.import_module("audit.migrations.0002_mask_stored_secrets")

# Snippets as the analyzer stored them before it masked secrets.
STORED = {
    "AUD105": [
        (
            'API_KEY = "sk-proj-3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"',
            'API_KEY = "sk-p… (40 chars)"',
        ),
        (
            '"api_key": "a8F3kd92LmQ0zX7v",  # a dict entry',
            '"api_key": "a8F3… (16 chars)",  # a dict entry',
        ),
        ('KEY = """-----BEGIN RSA PRIVATE KEY-----\nMIIEabc', migration.WITHHELD),
    ],
    "AUD101": [
        (
            'token = os.getenv("API_TOKEN", "tok_9f8e7d6c5b4a")',
            'token = os.getenv("API_TOKEN", "tok_… (16 chars)")',
        ),
    ],
    "AUD002": [("except Exception:\n    pass", "except Exception:\n    pass")],
}


def test_mask_stored_secrets__masks_old_rows_and_is_idempotent(
    audit_run: AuditRun,
) -> None:
    rows = {}
    for code, cases in STORED.items():
        for number, (stored, _) in enumerate(cases):
            rows[(code, number)] = Finding.objects.create(
                run=audit_run,
                code=code,
                family="hardcoded_config",
                severity="critical",
                path="app/old.py",
                line=number + 1,
                column=1,
                end_line=number + 1,
                snippet=stored,
                message="stored before masking",
                fix_hint="",
                fingerprint=f"old-{code}-{number}",
            )
    migration.mask_stored_secrets(apps, None)
    after = {key: Finding.objects.get(pk=row.pk).snippet for key, row in rows.items()}
    for (code, number), snippet in after.items():
        assert snippet == STORED[code][number][1]
    assert not leaks(
        " ".join(after.values()), "sk-proj-3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
    )
    migration.mask_stored_secrets(apps, None)
    assert {
        key: Finding.objects.get(pk=row.pk).snippet for key, row in rows.items()
    } == after
