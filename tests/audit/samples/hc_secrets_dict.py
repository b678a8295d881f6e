def headers():
    return {
        "Authorization": "Bearer token",
        "api_key": "a8F3kd92LmQ0zX7v",  # expect: AUD105 masked: a8F3… (16 chars)
    }


DSN = "postgres://admin:s3cretPass@db.prod.internal:5432/app"  # expect: AUD105 masked: post… (53 chars)
