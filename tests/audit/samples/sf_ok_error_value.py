def call_tool(tool, args):
    try:
        return {"ok": tool(**args)}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def collect(items, errors):
    for item in items:
        try:
            item.check()
        except Exception as exc:
            errors.append((item, exc))
