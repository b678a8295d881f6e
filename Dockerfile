# The control plane image: one `serve` worker per container (compose.yaml runs N).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=production \
    DATA_DIR=/var/lib/controlplane

WORKDIR /app

# Only the runtime part of requirements.txt (everything above its test section):
# the image needs no pytest, ruff or playwright.
COPY requirements.txt ./
RUN sed '/^# Tests, lint and benchmarks/,$d' requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

RUN groupadd --system controlplane \
    && useradd --system --gid controlplane --home-dir /var/lib/controlplane \
        --no-create-home --shell /usr/sbin/nologin controlplane \
    && install -d -o controlplane -g controlplane /var/lib/controlplane

# The code stays owned by root, so the server cannot rewrite itself; it is
# compiled here because the server user may not write __pycache__.
COPY . .
RUN python -m compileall -q controlplane bus audit

USER controlplane
EXPOSE 8000

# /health/live checks no dependency: a worker is restarted for being stuck, never
# for a database outage (that is /health/ready's and the breaker's business).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]

# Any management command runs as `docker run IMAGE <command>`; the default serves.
ENTRYPOINT ["python", "manage.py"]
CMD ["serve", "--bind", "0.0.0.0", "--port", "8000"]
