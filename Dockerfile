# syntax=docker/dockerfile:1
# Switchboard as a container, for running it anywhere but AWS Lambda (README: "Running in a container").
#
#   docker build -t switchboard .                          # SQLite store, OpenAI / Anthropic / Gemini / mock
#   docker build -t switchboard --build-arg WITH_AWS=true .  # + boto3: DynamoDB store, Bedrock providers
#
# Keys are required: the configuration (deploy/docker.toml) leaves `gateway.auth` at its default,
# "required", so every /v1 request gets 401 until a key exists (`switchboard keys create`, see README).
ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------- build: a venv with the locked deps
FROM ${PYTHON_IMAGE} AS build
ARG WITH_AWS=false
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
# The venv has no pip of its own: the base image's pip installs into it (`pip --python`).
RUN python -m venv --without-pip /opt/switchboard
WORKDIR /src

# The runtime dependencies exactly as locked (every transitive pin is in the file, hence --no-deps),
# as wheels only: slim has no compiler, and a source build would mean the lock is missing a wheel.
# WITH_AWS=true adds boto3 and its dependencies at the versions the dev lock pins.
COPY requirements.lock requirements-dev.lock ./
RUN pip --python /opt/switchboard/bin/python install --no-deps --no-compile --only-binary=:all: \
        -r requirements.lock \
    && if [ "$WITH_AWS" = "true" ]; then \
        grep -E '^(boto3|botocore|s3transfer|python-dateutil|six|urllib3)==' requirements-dev.lock \
            > /tmp/aws.lock \
        && pip --python /opt/switchboard/bin/python install --no-deps --no-compile --only-binary=:all: \
            -r /tmp/aws.lock; \
    fi

# The package itself (README.md is its readme in pyproject.toml).
COPY pyproject.toml README.md ./
COPY lambda_src/ lambda_src/
RUN pip --python /opt/switchboard/bin/python install --no-deps --no-compile . \
    && /opt/switchboard/bin/python -c "import switchboard.app, switchboard.cli.main"

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/switchboard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SWITCHBOARD_CONFIG=/etc/switchboard/gateway.toml \
    SWITCHBOARD_USAGE_SPILL=/var/lib/switchboard/usage-spill.jsonl

# A fixed non-root user (numeric, so `runAsNonRoot` policies can verify it) that owns only the store.
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/switchboard --no-create-home \
        --shell /usr/sbin/nologin switchboard \
    && mkdir -p /var/lib/switchboard /etc/switchboard \
    && chown 10001:10001 /var/lib/switchboard \
    && chmod 0750 /var/lib/switchboard

COPY --from=build /opt/switchboard /opt/switchboard
COPY deploy/docker.toml /etc/switchboard/gateway.toml

# Bytecode compiled at build: the user cannot write __pycache__ next to the sources, and without
# .pyc files every start would recompile every import. unchecked-hash: the image never changes, so
# the sources are not even stat-ed. The stdlib is included (the base image ships it without .pyc).
RUN python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        -x '/(test|tests|idle_test)/' /opt/switchboard /usr/local/lib/python3.12 \
    && switchboard check-config /etc/switchboard/gateway.toml

# The SQLite store (and the usage spill file) live here: mount a volume to keep keys and usage.
VOLUME ["/var/lib/switchboard"]
WORKDIR /var/lib/switchboard
USER 10001:10001
EXPOSE 8080

# No curl in slim: the probe is the image's own Python (any failure or non-2xx exits non-zero).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["switchboard", "serve", "--host", "0.0.0.0", "--port", "8080", "--config", "/etc/switchboard/gateway.toml"]
