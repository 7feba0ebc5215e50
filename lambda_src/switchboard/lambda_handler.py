"""Buffered Lambda entry point (API Gateway or a BUFFERED function URL) via Mangum.

Streaming deployments use the Lambda Web Adapter and `run.sh` instead (uvicorn serves the same app).
The app is built at import (no network I/O happens then); provider secrets are fetched on first use.
"""

from __future__ import annotations

from mangum import Mangum

from switchboard.app import create_app

app = create_app()
# lifespan off: Mangum would run startup/shutdown around every invocation and close the
# connection pool that warm invocations should reuse.
handler = Mangum(app, lifespan="off")
