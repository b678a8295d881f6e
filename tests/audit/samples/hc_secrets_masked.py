import os

import requests

PRIVATE = (
    "sk_live_51HxYzAbCdEf"  # expect: AUD105 masked: sk_l… (34 chars)
    "Qw8Er7Ty6Ui5Op"
)
greeting, key = "héllo wörld ✓", "sk-proj-abcdefghijklmnopqrstuv"  # expect: AUD105 masked: sk-p… (30 chars)


def fetch(url):
    token = os.getenv("API_TOKEN", "tok_9f8e7d6c5b4a")  # expect: AUD101 masked: tok_… (16 chars)
    return requests.get(url, timeout=30, headers={"api_key": "Zx9Qw8Er7Ty6Ui5O"})  # expect: AUD104, AUD105 masked: Zx9Q… (16 chars)


def connect(db):
    try:
        return db.connect()
    except Exception:  # expect: AUD003
        db.connect(password="Fallback-Pa55w0rd")  # expect: AUD105 masked: Fall… (17 chars)
        return None
