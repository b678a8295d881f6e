from pathlib import Path


def routes(base_dir):
    urls = ["/api/v1/tools", "/health/", "/"]
    data = Path(base_dir) / "data" / "cache.db"
    return urls, data
