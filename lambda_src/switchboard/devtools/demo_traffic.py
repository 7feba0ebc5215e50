"""Demo traffic for `scripts/run`: waits for the gateway, makes a demo key through the admin API (or
rotates the one an earlier run made), sends a bounded burst of requests to the demo's mock models
(answers, streams, a fallback, a slow one and a few client errors), then prints where to look.

Local only: it talks to the URL it is given (127.0.0.1 by default) and never to a provider.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx

REQUESTS = 60
PLAN = (
    ("mock-echo", False),
    ("mock-stream", True),
    ("mock-fallback", False),
    ("mock-echo", False),
    ("mock-slow", False),
    ("mock-tools", False),
)


def _wait(client: httpx.Client, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def _demo_key(client: httpx.Client, token: str) -> str | None:
    admin = {"authorization": f"Bearer {token}"}
    listed = client.get("/admin/api/keys", params={"tenant": "demo"}, headers=admin)
    if listed.status_code != 200:
        return None
    active = [k for k in listed.json()["keys"] if k["status"] == "active" and k["name"] == "demo-app"]
    if active:
        answer = client.post(f"/admin/api/keys/{active[0]['key_id']}/rotate", headers=admin)
    else:
        limits: dict[str, Any] = {"tenant": "demo", "name": "demo-app", "rpm": 600, "budget_usd_per_day": 5}
        answer = client.post("/admin/api/keys", json=limits, headers=admin)
    return str(answer.json()["key"]) if answer.status_code in (200, 201) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--shown", default="$SWITCHBOARD_ADMIN_TOKEN", help="how to name the token")
    args = parser.parse_args(argv)
    token = os.environ.get("SWITCHBOARD_ADMIN_TOKEN", "")
    with httpx.Client(base_url=args.url, timeout=30) as client:
        if not _wait(client):
            print("demo traffic: the gateway did not come up", file=sys.stderr)
            return 1
        key = _demo_key(client, token) if token else None
        headers = {"authorization": f"Bearer {key}"} if key else {}
        sent = 0
        for n in range(REQUESTS):
            model, stream = PLAN[n % len(PLAN)]
            if n % 15 == 14:
                model = "no-such-model"  # a client error, to see one in the console
            body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": f"demo {n}"}]}
            try:
                client.post("/v1/chat/completions", json=body, headers=headers)
                sent += 1
            except httpx.HTTPError:
                break
            time.sleep(0.05)
    print(
        f"\n  Demo traffic sent: {sent} requests (tenant 'demo', key 'demo-app').\n"
        f"  Console: {args.url}/console/\n"
        f"  Admin token: {args.shown}\n",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
