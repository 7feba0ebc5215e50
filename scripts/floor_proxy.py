"""The benchmark's floor: a minimal FastAPI + aiohttp pass-through proxy (no features at all).

Usage: python scripts/floor_proxy.py UPSTREAM_BASE_URL PORT
"""

from __future__ import annotations

import sys

import aiohttp
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

UPSTREAM = sys.argv[1].rstrip("/") + "/chat/completions"
app = FastAPI()
state: dict[str, aiohttp.ClientSession] = {}


def session() -> aiohttp.ClientSession:
    if "s" not in state:
        state["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    return state["s"]


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Response:
    body = await request.body()
    upstream = await session().post(UPSTREAM, data=body, headers={"content-type": "application/json"})
    if upstream.headers.get("content-type", "").startswith("text/event-stream"):

        async def relay():
            async for chunk in upstream.content.iter_any():
                yield chunk
            upstream.release()

        return StreamingResponse(relay(), media_type="text/event-stream")
    content = await upstream.read()
    return Response(content, status_code=upstream.status, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
