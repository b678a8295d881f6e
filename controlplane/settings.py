"""Django settings: the only module that reads the environment (see STYLE.md §4)."""

import os
from pathlib import Path

import environ

from controlplane.config import parse_environment

BASE_DIR = Path(__file__).resolve().parent.parent
# Seconds a database connection is reused when DATABASE_URL sets no conn_max_age.
DEFAULT_CONN_MAX_AGE_SECS = 60

env = environ.Env()
# .env is optional; real environment variables win over it.
environ.Env.read_env(os.path.join(BASE_DIR, ".env"), overwrite=False)

CONTROLPLANE_BASE_CONFIG = parse_environment(dict(os.environ))
_cfg = CONTROLPLANE_BASE_CONFIG.values

SECRET_KEY = _cfg["SECRET_KEY"]
DEBUG = _cfg["DEBUG"]
ALLOWED_HOSTS = list(_cfg["ALLOWED_HOSTS"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "health_check",
    "controlplane",
    "bus",
    "audit",
]

MIDDLEWARE = [
    "controlplane.logconfig.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "controlplane.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "controlplane.asgi.application"
WSGI_APPLICATION = None

DATABASES = {"default": env.db_url_config(_cfg["DATABASE_URL"])}
# Persistent connections unless DATABASE_URL says otherwise (?conn_max_age=0):
# a new connection costs 6-7 ms, more than most queries of a hello or a bus
# call. Health checks make a connection kept across a database restart or a
# terminated backend reconnect on its next use instead of failing once; every
# thread of the server that touches the ORM closes or checks its connection
# first (close_old_connections; README, "Database connections").
DATABASES["default"].setdefault("CONN_MAX_AGE", DEFAULT_CONN_MAX_AGE_SECS)
# django-environ hands the URL's value over as a string, and "false" is truthy.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.parse_value(
    str(DATABASES["default"].get("CONN_HEALTH_CHECKS", True)), bool
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _sqlite_name = Path(DATABASES["default"]["NAME"])
    if not _sqlite_name.is_absolute():
        DATABASES["default"]["NAME"] = str(BASE_DIR / _sqlite_name)
    # WAL lets the purge and the request path write without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;",
        "timeout": 20,
    }

if _cfg["REDIS_URL"]:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cfg["REDIS_URL"],
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# No CHANNEL_LAYERS: nothing sends through a channel layer (sessions are reached
# through the gateway), and a configured one costs every connection a listener.

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Every file written at run time lives here, never in the checkout itself.
DATA_DIR = BASE_DIR / _cfg["DATA_DIR"]
# Only the storage health check writes here (a probe file, deleted at once).
MEDIA_ROOT = DATA_DIR / "media"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "controlplane.logconfig.ContextFilter"}},
    "formatters": {
        "text": {
            "()": "controlplane.logconfig.TextFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(context)s] %(message)s",
        },
        "json": {"()": "controlplane.logconfig.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": _cfg["LOG_FORMAT"],
        }
    },
    "root": {"handlers": ["console"], "level": _cfg["LOG_LEVEL"]},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # The MCP SDK logs every stateless /mcp/ request ("Terminating session")
        # at INFO; its warnings and errors still show.
        "mcp.server": {"level": "WARNING"},
        # The MCP SDK's HTTP client logs every request at INFO: with upstream
        # sessions pinged every few seconds that would drown the log.
        "httpx2": {"level": "WARNING"},
    },
}
