def headers():
    return {
        "Authorization": "Bearer token",
        "api_key": "a8F3kd92LmQ0zX7v",  # expect: AUD105
    }


DSN = "postgres://admin:s3cretPass@db.prod.internal:5432/app"  # expect: AUD105
