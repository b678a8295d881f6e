def process(items):
    failures = 0
    for item in items:
        try:
            item.run()
        except Exception:  # expect: AUD003
            failures += 1
    return failures
