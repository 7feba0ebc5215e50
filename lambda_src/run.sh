#!/bin/bash
# Lambda Web Adapter entry (handler = run.sh): uvicorn serves the gateway on AWS_LWA_PORT.
# The adapter relays responses in RESPONSE_STREAM mode and checks /healthz for readiness.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:${PYTHONPATH:-}"
exec python -m switchboard serve --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" ${SWITCHBOARD_CONFIG:+--config "$SWITCHBOARD_CONFIG"}
