# syntax=docker/dockerfile:1
# Traction CDS: the CDS Hooks service, as it runs in production.
#   docker build -t traction-cds .
#   docker run -p 8000:8000 -e TRACTION_PUBLIC_BASE_URL=... -e TRACTION_TRUSTED_ISSUERS=... traction-cds
# Dependencies come from requirements.lock (exact versions, sha256 hashes, wheels only), so the
# build compiles nothing and the final stage carries no compiler, pip or build tool.
# Pin the base by digest in your registry mirror: --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv at /opt/venv with the locked dependencies and our wheel ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY cds_hooks ./cds_hooks
COPY plugin ./plugin
COPY rules ./rules
# Our own code, as a wheel (package data: rules/data/*.yaml|csv, templates) and nothing else.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
 && /opt/venv/bin/traction-cds rules list >/dev/null \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

# --- run: slim Python, the venv, a non-root user, a writable /app/var ---------------------------
FROM ${PYTHON_IMAGE} AS run
LABEL org.opencontainers.image.title="traction-cds" \
      org.opencontainers.image.description="CDS Hooks service that checks how CPT 97012 is billed on FHIR R4 Claims" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 traction \
 && useradd --system --uid 10001 --gid traction --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin traction \
 && mkdir -p /app/var \
 && chown traction:traction /app/var
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRACTION_AUTH_MODE=jwt \
    TRACTION_PLAYGROUND=false \
    TRACTION_WORKERS=2 \
    TRACTION_GRACEFUL_TIMEOUT_SECONDS=25
WORKDIR /app
USER 10001:10001
# The SQLite default (sqlite+aiosqlite:///./var/traction-cds.db) lands here; use PostgreSQL
# (TRACTION_DATABASE_URL=postgresql+asyncpg://...) for more than one replica.
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
# exec: uvicorn is PID 1 and gets SIGTERM itself (graceful shutdown, see --graceful-timeout).
CMD ["/bin/sh", "-c", "exec traction-cds serve --host 0.0.0.0 --port 8000 --workers \"${TRACTION_WORKERS:-2}\""]
