"""Secrets found by a run are masked in its rows, pages, admin and every export."""

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from audit.analysis import ALL_FAMILIES, ScanOptions
from audit.models import AuditRun
from audit.selectors import run_export
from audit.services import audit_run_execute
from audit.views import CONFIG_PARTS, EXPORT_FORMATS
from tests.audit.corpus import SAMPLES, leaks, masked_marks, secret_literal

pytestmark = pytest.mark.django_db

# Real sample code, its secrets marked inline with how they must be shown.
SECRET_SAMPLES = ("hc_secrets.py", "hc_secrets_masked.py")


def _marked() -> list[tuple[str, str]]:
    """Return (masked form, literal) of every secret marked in SECRET_SAMPLES."""
    return [
        (shown, secret_literal(SAMPLES / name, line, shown))
        for name in SECRET_SAMPLES
        for line, shown in masked_marks(SAMPLES / name)
    ]


def _assert_masked(text: str) -> None:
    for _, secret in _marked():
        assert not leaks(text, secret), secret


@pytest.fixture
def secret_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "proj" / "app"
    tree.mkdir(parents=True)
    for name in SECRET_SAMPLES:
        shutil.copy(SAMPLES / name, tree / name)
    return tree


@pytest.fixture
def secret_run(secret_tree: Path) -> AuditRun:
    return audit_run_execute(
        paths=[str(secret_tree)],
        families=ALL_FAMILIES,
        options=ScanOptions(),
        target="secrets",
        jobs=1,
    )


@pytest.fixture
def reader(client: Client, staff_user) -> Client:
    client.force_login(staff_user)
    return client


def test_finding_rows__store_secrets_masked(secret_run: AuditRun) -> None:
    findings = list(secret_run.findings.all())
    secrets = [f for f in findings if f.code == "AUD105"]
    assert len(secrets) == 7
    for finding in findings:
        _assert_masked(finding.snippet)
        _assert_masked(finding.message)
    shown = {f.message.rsplit(": ", 1)[1] for f in secrets}
    assert "sk-p… (40 chars)" in shown and "Zx9Q… (16 chars)" in shown


def test_pages__show_secrets_masked(
    reader: Client, secret_run: AuditRun, secret_tree: Path
) -> None:
    detail = reader.get(reverse("audit:run-detail", args=[secret_run.pk])).text
    _assert_masked(detail)
    assert "sk-p… (40 chars)" in detail
    file_url = reverse("audit:run-file", args=[secret_run.pk])
    for name in SECRET_SAMPLES:
        source = reader.get(file_url, {"path": f"app/{name}"}).text
        assert 'id="L1"' in source
        _assert_masked(source)
    assert "Zx9Q… (16 chars)" in source
    (secret_tree / "hc_secrets.py").unlink()
    snippets = reader.get(file_url, {"path": "app/hc_secrets.py"}).text
    assert "showing the stored snippets" in snippets
    _assert_masked(snippets)
    assert "ghp_… (40 chars)" in snippets


def test_file_view__masks_source_that_changed_since_the_run(
    reader: Client, secret_run: AuditRun, secret_tree: Path
) -> None:
    """A changed file is not shown; a run without hashes shows today's, masked."""
    path = secret_tree / "hc_secrets.py"
    path.write_text(path.read_text() + 'LATER = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n')
    url = reverse("audit:run-file", args=[secret_run.pk])
    page = reader.get(url, {"path": "app/hc_secrets.py"}).text
    assert not leaks(page, "sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    assert 'id="file-changed"' in page
    # A run stored before file hashes shows the file as it is now: masked too.
    secret_run.findings.update(file_sha256="")
    page = reader.get(url, {"path": "app/hc_secrets.py"}).text
    assert not leaks(page, "sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    assert "sk_l… (32 chars)" in page
    assert 'id="file-unrecorded"' in page


def test_exports__show_secrets_masked_in_every_format(
    reader: Client, secret_run: AuditRun
) -> None:
    for suffix in EXPORT_FORMATS:
        url = reverse("audit:run-export", args=[secret_run.pk, suffix])
        response = reader.get(url)
        assert response.status_code == 200
        _assert_masked(response.content.decode())
    for part in CONFIG_PARTS:
        url = reverse("audit:run-config", args=[secret_run.pk, part])
        response = reader.get(url)
        assert response.status_code == 200
        _assert_masked(response.content.decode())
    for fmt in ("text", "json", "sarif", "markdown"):
        _assert_masked(run_export(secret_run, fmt))
    assert "sk-p… (40 chars)" in run_export(secret_run, "markdown")


def test_admin__shows_secrets_masked(reader: Client, secret_run: AuditRun) -> None:
    changelist = reader.get(reverse("admin:audit_finding_changelist")).text
    _assert_masked(changelist)
    for finding in secret_run.findings.filter(code="AUD105"):
        url = reverse("admin:audit_finding_change", args=[finding.pk])
        _assert_masked(reader.get(url).text)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown"])
def test_audit_command__prints_secrets_masked(secret_tree: Path, fmt: str) -> None:
    out = StringIO()
    call_command(
        "audit", str(secret_tree), "--format", fmt, stdout=out, stderr=StringIO()
    )
    _assert_masked(out.getvalue())
