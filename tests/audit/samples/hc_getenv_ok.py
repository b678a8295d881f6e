import os


def token_from_env():
    return os.getenv("API_TOKEN")


def optional(name):
    return os.environ.get(name, None)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
