"""Shared helpers of the benchmarks: a scratch database, Django setup, RSS sampling."""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cp_bench"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def admin_url(database_url: str) -> tuple[str, str]:
    """Return the URL of the server's postgres database and the bench db name."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    return urlunsplit(parts._replace(path="/postgres", query="")), name


def libpq_url(database_url: str) -> str:
    """Drop Django-only query options (conn_max_age, ...) that libpq rejects."""
    return urlunsplit(urlsplit(database_url)._replace(query=""))


def create_database(database_url: str) -> None:
    """Create the scratch database afresh."""
    url, name = admin_url(database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    """Drop the scratch database."""
    url, name = admin_url(database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(database_url: str, *, migrate: bool = True) -> None:
    """Point Django at the scratch database, quiet the logs and migrate."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0)


def rss_bytes() -> int:
    """Return this process's resident set size now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def reset_peak_rss() -> None:
    """Reset the kernel's high-water mark of this process's RSS (VmHWM)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss_bytes() -> int:
    """Return the kernel's high-water mark of this process's RSS since the reset."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
