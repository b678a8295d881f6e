SCHEMA = "https://schemas.acme.io/tool.json"  # audit: ignore[AUD102] schema id, not a server
OTHER = "https://api.acme.io/v2"  # expect: AUD102
