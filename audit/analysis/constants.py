"""Tunable limits of the analyzer, in one place."""

# Findings show at most this many source lines as their snippet.
SNIPPET_MAX_LINES = 5
# String literals shorter than this are never reported as secrets.
SECRET_MIN_LENGTH = 6
# A secret literal is stored and shown as its first this many characters and
# its length, never whole.
SECRET_SHOWN_CHARS = 4
# Below this many files a scan runs in-process: a worker pool costs more than it saves.
PARALLEL_MIN_FILES = 64
# Files handed to a worker at a time; bounds how many results wait in memory.
PARALLEL_CHUNK_SIZE = 16
# Waits of at most this many seconds are an idiom (try-acquire, a yield to the
# event loop), not a timeout anyone would configure.
IDIOM_MAX_SECONDS = 0.01
# Highest valid TCP/UDP port.
MAX_PORT = 65535
# Module names (file stems or package names) that hold configuration.
CONFIG_MODULE_NAMES = frozenset({"settings", "config", "conf", "constants", "const"})
# Directory names never descended into.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
    }
)
# Prefix of the partialFingerprints key in SARIF output.
SARIF_FINGERPRINT_KEY = "auditFingerprint/v1"
# Number of files listed in "top files" summaries.
TOP_FILES = 10
# URL hosts that name XML/JSON namespaces and schemas rather than servers.
NAMESPACE_URL_HOSTS = frozenset(
    {
        "www.w3.org",
        "w3.org",
        "json-schema.org",
        "json.schemastore.org",
        "docs.oasis-open.org",
        "purl.org",
        "schemas.xmlsoap.org",
        "schemas.openxmlformats.org",
        "schemas.microsoft.com",
        "xmlns.com",
        "www.georss.org",
        "www.opengis.net",
    }
)
# Addresses that mean "this machine" or "every interface", not a service: given
# where no address was, they are what "none given" means.
LOCAL_HOSTS = frozenset(
    {"localhost", "127.0.0.1", "0.0.0.0", "::", "::1", "[::]", "[::1]"}
)
# Conversions of text (input, a URL's query, a parsed option) into a number.
NUMBER_CONVERSIONS = frozenset({"int", "float"})
