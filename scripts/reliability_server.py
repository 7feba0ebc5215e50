"""The reliability suite's invariants for issue 16 (I1-I13, one per item; I11, the access log, is
not an invariant of this suite), run by scripts/reliability.py against its real gateways:

- I1: a streamed translated /v1/responses answer is stored before its final event: retrieved and
  continued (`previous_response_id`) at once on another connection.
- I2: RSS bounded under sustained answers over `max_response_bytes` (baseline + cap x concurrency
  + 48 MiB).
- I3: the SQLite store write-locked by another process: requests needing a store write get a 503 in
  their dialect within the bound, reads (a stored response) are served at once; DynamoDB (moto's
  server behind a third gateway) stopped with SIGSTOP: every request needing the store gets its 503
  within the bound.
- I4: fuzzed bodies per provider type, 0 5xx (scripts/reliability_fuzz.py).
- I5: header values built from client input (`x-switchboard-dropped` with control characters or
  non-ASCII field names): the answer arrives whole, every header value printable ASCII.
- I6: Content-Encoding: gzip / deflate decoded, other codings 415, a zip bomb 413.
- I7: wrong methods 405 with `Allow`, unknown routes 404, `%2F` not a separator, all at once.
- I8: Bedrock errors never show the AWS access key id or the SigV4 signature.
- I9: repeated beta headers joined; each API gets only its own.
- I10: tenant names validated, the anonymous tenant reserved.
- I12: a silent model's stream is committed with keep-alive comments before its first output.
- I13: a malformed upstream event in a stream rendered in the client's dialect ends it with an
  error event (not a clean end, not a broken body).
"""

from __future__ import annotations

import gzip
import json
import signal
import socket
import sqlite3
import subprocess
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import reliability_fuzz as fuzz
from reliability import (
    CHAT_PATH,
    MAX_RESPONSE_BYTES,
    MSG_PATH,
    PY,
    SILENT_S,
    STORE_TIMEOUT_MS,
    STREAM_COMMIT_MS,
    Gateway,
    Results,
    Upstream,
    call,
    chat,
    error_shape_ok,
    free_port,
    keys_create,
    messages,
    post,
    short,
    sse_events,
)

RESP_PATH = "/v1/responses"
STORE_BOUND_S = STORE_TIMEOUT_MS / 1000 + 2.0


def _responses_stream_id(body: bytes) -> str | None:
    for event in sse_events(body):
        for line in event.split("\n"):
            if line.startswith("data: {") and "response.completed" in line:
                return str(json.loads(line[6:])["response"]["id"])
    return None


def run_stored_after_stream(res: Results, gw: Gateway, key: str, n: int) -> None:
    """I1 (issue 16 item 1; the lead's fix)."""
    for i in range(n):
        answer = post(gw.port, key, RESP_PATH, {"model": "fz-openai", "input": f"turn {i}", "stream": True})
        rid = _responses_stream_id(answer.body)
        if not res.case(
            "I1",
            answer.status == 200 and rid is not None,
            f"stream {i}: {answer.status} {short(answer.body)}",
        ):
            continue
        got = call(gw.port, "GET", f"{RESP_PATH}/{rid}", None, {"authorization": f"Bearer {key}"})
        res.case("I1", got.status == 200, f"GET {rid} right after its stream: {got.status} {short(got.body)}")
        follow = post(
            gw.port, key, RESP_PATH, {"model": "fz-openai", "input": "next", "previous_response_id": rid}
        )
        res.case(
            "I1", follow.status == 200, f"previous_response_id={rid}: {follow.status} {short(follow.body)}"
        )


def run_memory_bound(res: Results, gw: Gateway, key: str, n: int, concurrency: int = 16) -> None:
    """I2 (item 2)."""
    post(gw.port, key, CHAT_PATH, chat("over-cap"))
    time.sleep(0.5)
    baseline = gw.rss_kib() / 1024
    curve = []
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(4):
            statuses = list(
                pool.map(
                    lambda _: post(gw.port, key, CHAT_PATH, chat("over-cap"), timeout=60).status,
                    range(n // 4),
                )
            )
            bad = [s for s in statuses if s != 502]
            res.case(
                "I2",
                not bad,
                f"answers over max_response_bytes: statuses {sorted(set(statuses))}, expected 502",
            )
            curve.append(round(gw.rss_kib() / 1024))
    time.sleep(2)
    curve.append(round(gw.rss_kib() / 1024))
    bound = baseline + MAX_RESPONSE_BYTES * concurrency / 2**20 + 48
    res.case("I2", max(curve) < bound, f"RSS {baseline:.0f} MiB -> {curve} MiB, bound {bound:.0f} MiB")
    res.notes.append(
        f"I2: {n} answers of {1.5 * MAX_RESPONSE_BYTES / 2**20:.0f} MiB over a "
        f"{MAX_RESPONSE_BYTES // 2**20} MiB cap, "
        f"concurrency {concurrency}: RSS {baseline:.0f} MiB -> {curve} MiB (last after 2 s idle; bound "
        f"{bound:.0f})"
    )


def _expect_503(
    res: Results, gw: Gateway, key: str, path: str, body: dict[str, Any], what: str, timings: list[str]
) -> None:
    """A request that needs the store (after up to two served from a prefetched lease) is a 503 in
    the route's shape within the store bound (+2 s)."""
    for _ in range(3):
        answer = post(gw.port, key, path, body, timeout=30)
        if answer.status != 200:
            break
    ok = answer.status == 503 and error_shape_ok(path, answer) and answer.elapsed < STORE_BOUND_S
    res.case("I3", ok, f"{what}: {answer.status} in {answer.elapsed:.2f} s: {short(answer.body)}")
    timings.append(f"{what} {answer.status} in {answer.elapsed:.2f} s")


def run_store_hang(res: Results, gw: Gateway, store: Path, keys: dict[str, str], stored_key: str) -> None:
    """I3 (item 3): `keys` maps a route to a key with rpm 10 (leases of one request)."""
    stored = post(gw.port, stored_key, RESP_PATH, {"model": "fz-openai", "input": "keep me"})
    rid = json.loads(stored.body).get("id") if stored.status == 200 else None
    bodies = {
        CHAT_PATH: chat("ok"),
        MSG_PATH: messages("claude-ok"),
        RESP_PATH: {"model": "fz-openai", "input": "x", "store": False},
        "/v1/embeddings": {"model": "ok", "input": "x"},
    }
    for path, key in keys.items():
        post(gw.port, key, path, bodies[path])
    time.sleep(0.3)  # the background lease refills are done
    lock = sqlite3.connect(store, isolation_level=None, timeout=10)
    lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    timings = []
    try:
        for path, key in keys.items():
            _expect_503(res, gw, key, path, bodies[path], f"{path} needing a lease, store locked", timings)
        if rid:
            got = call(gw.port, "GET", f"{RESP_PATH}/{rid}", None, {"authorization": f"Bearer {stored_key}"})
            res.case(
                "I3",
                got.status == 200 and got.elapsed < 1.0,
                f"GET stored response, store locked: {got.status} in {got.elapsed:.2f} s",
            )
            timings.append(f"GET {RESP_PATH}/{{id}} {got.status} in {got.elapsed:.2f} s")
        else:
            res.case("I3", False, f"could not store a response first: {stored.status} {short(stored.body)}")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    res.notes.append(f"I3: SQLite write-locked, timeout_ms {STORE_TIMEOUT_MS}: " + "; ".join(timings))


def run_store_hang_dynamodb(res: Results, config: Path, env: dict[str, str], tmp: Path) -> None:
    """I3 on DynamoDB: moto's server in its own process behind a third gateway, stopped with SIGSTOP
    (the kernel still accepts connections; nothing answers)."""
    import boto3

    port = free_port()
    moto = subprocess.Popen(
        [PY, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    gw = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_table(
            TableName="sb-rel",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        text = config.read_text()
        start = text.index("[store]")
        end = text.index("\n\n", start) if "\n\n" in text[start:] else text.index("[routing]")
        store = (
            f'[store]\nbackend = "dynamodb"\ntable = "sb-rel"\nregion = "us-east-1"\n'
            f'endpoint_url = "{endpoint}"\ntimeout_ms = {STORE_TIMEOUT_MS}\n'
        )
        dynamo_config = tmp / "dynamodb.toml"
        dynamo_config.write_text(text[:start] + store + text[end:])
        keys = {}
        for name, limits in (("warm", ()), ("limited", ("--rpm", "10")), ("unseen", ())):
            out = keys_create(dynamo_config, env, "rel", name, *limits)
            out.check_returncode()
            keys[name] = json.loads(out.stdout)["key"]
        gw = Gateway("C", dynamo_config, env, tmp, "warning")
        stored = post(gw.port, keys["warm"], RESP_PATH, {"model": "fz-openai", "input": "keep me"})
        rid = json.loads(stored.body).get("id") if stored.status == 200 else "none"
        post(gw.port, keys["limited"], CHAT_PATH, chat("ok"))
        time.sleep(0.3)  # the background lease refill is done
        moto.send_signal(signal.SIGSTOP)

        timings = []
        try:
            cases = [
                ("unseen key, chat", keys["unseen"], CHAT_PATH, chat("ok")),
                ("unseen key, messages", keys["unseen"], MSG_PATH, messages("claude-ok")),
                ("unseen key, responses", keys["unseen"], RESP_PATH, {"model": "fz-openai", "input": "x"}),
                ("unseen key, embeddings", keys["unseen"], "/v1/embeddings", {"model": "ok", "input": "x"}),
                ("new lease, chat", keys["limited"], CHAT_PATH, chat("ok")),
                ("new lease, messages", keys["limited"], MSG_PATH, messages("claude-ok")),
                (
                    "previous_response_id",
                    keys["warm"],
                    RESP_PATH,
                    {"model": "fz-openai", "input": "x", "previous_response_id": rid},
                ),
            ]
            for name, key, path, body in cases:
                _expect_503(res, gw, key, path, body, f"DynamoDB stopped, {name}", timings)
            got = call(
                gw.port, "GET", f"{RESP_PATH}/{rid}", None, {"authorization": f"Bearer {keys['warm']}"}, 30
            )
            ok = got.status == 503 and error_shape_ok(RESP_PATH, got) and got.elapsed < STORE_BOUND_S
            res.case("I3", ok, f"DynamoDB stopped, GET stored response: {got.status} in {got.elapsed:.2f} s")
            timings.append(f"GET stored response {got.status} in {got.elapsed:.2f} s")
        finally:
            moto.send_signal(signal.SIGCONT)
        recovered = post(gw.port, keys["warm"], CHAT_PATH, chat("ok"), timeout=30)
        res.case(
            "I3", recovered.status == 200, f"DynamoDB resumed: {recovered.status} {short(recovered.body)}"
        )
        res.notes.append(
            f"I3: DynamoDB (moto server) stopped, timeout_ms {STORE_TIMEOUT_MS}: " + "; ".join(timings)
        )
    finally:
        if gw is not None:
            gw.stop()
        moto.send_signal(signal.SIGCONT)
        moto.terminate()
        moto.wait(10)


def run_fuzz(res: Results, gw: Gateway, key: str, per_type: int) -> None:
    """I4 (item 4)."""
    counts: dict[str, dict[int, int]] = {}
    corpus = list(fuzz.bodies(per_type))

    def one(args: tuple[str, str, dict[str, Any]]) -> tuple[str, str, dict[str, Any], int, bytes]:
        ptype, route, body = args
        payload = json.dumps({**body, "model": f"fz-{ptype}"}).encode()
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        try:
            answer = call(gw.port, "POST", route, payload, headers, timeout=20)
        except (TimeoutError, OSError):
            return ptype, route, body, 0, b""
        return ptype, route, body, answer.status, answer.body

    jobs = [(ptype, route, body) for ptype in fuzz.PROVIDER_TYPES for route, body in corpus]
    with ThreadPoolExecutor(8) as pool:
        for ptype, route, body, status, answer in pool.map(one, jobs):
            counts.setdefault(ptype, {})
            counts[ptype][status] = counts[ptype].get(status, 0) + 1
            why = fuzz.failure(route, status, answer)
            res.case(
                "I4",
                why is None,
                f"fz-{ptype} {route} {short(json.dumps(body), 400)} -> {why}: {short(answer)}",
            )
    for ptype, seen in counts.items():
        res.notes.append(
            f"I4: fz-{ptype}: {sum(seen.values())} fuzzed bodies, statuses {dict(sorted(seen.items()))}"
        )


def run_header_values(res: Results, gw: Gateway, key: str) -> None:
    """I5 (item 5; fidelity's fix)."""
    names = ["a\r\nb", "x\x00y", "caf\u00e9", "\u2028", "a\tb", "ok-name"]
    cases: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        cases.append((CHAT_PATH, {**chat("fz-mock"), name: 1}))
        cases.append((CHAT_PATH, {**chat("fz-gemini"), "tools": [{"type": name}]}))
        cases.append((MSG_PATH, {**messages("fz-mock"), name: 1}))
        cases.append((RESP_PATH, {"model": "fz-gemini", "input": "x", name: 1}))
    for path, body in cases:
        what = f"POST {path} with field/tool type {short(json.dumps(list(body)[-1]), 40)}"
        try:
            answer = post(gw.port, key, path, body)
        except (OSError, http_client_errors()) as exc:
            res.case("I5", False, f"{what}: no complete answer ({exc!r})")
            continue
        bad = [(k, v) for k, v in answer.headers if not all(32 <= ord(c) < 127 for c in v)]
        res.case(
            "I5",
            answer.status < 500 and not bad,
            f"{what}: {answer.status}, headers not printable ASCII: {bad}",
        )


def http_client_errors() -> type[Exception]:
    import http.client

    return http.client.HTTPException


def run_encodings(res: Results, gw: Gateway, key: str) -> None:
    """I6 (item 6)."""
    routes = {
        CHAT_PATH: chat("ok"),
        MSG_PATH: messages("claude-ok"),
        RESP_PATH: {"model": "fz-mock", "input": "x", "store": False},
        "/v1/embeddings": {"model": "ok", "input": "x"},
    }
    bomb = gzip.compress(b'{"model": "ok", "x": "' + b"0" * (64 * 1024 * 1024) + b'"}')
    for path, body in routes.items():
        raw = json.dumps(body).encode()
        for encoding, data, expect in (
            ("gzip", gzip.compress(raw), 200),
            ("deflate", zlib.compress(raw), 200),
            ("br", raw, 415),
            ("zstd", raw, 415),
            ("gzip", bomb, 413),
            ("gzip", raw, 400),
        ):
            headers = {
                "content-type": "application/json",
                "authorization": f"Bearer {key}",
                "content-encoding": encoding,
            }
            answer = call(gw.port, "POST", path, data, headers)
            ok = answer.status == expect and (expect == 200 or error_shape_ok(path, answer))
            res.case(
                "I6",
                ok,
                f"POST {path} content-encoding {encoding} ({len(data)} bytes): {answer.status}, expected "
                f"{expect}: {short(answer.body)}",
            )


def run_routes(res: Results, gw: Gateway, key: str) -> None:
    """I7 (item 7)."""
    auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    checks = [
        ("PUT", "/v1/responses/resp_x", 405, "GET, DELETE"),
        ("POST", "/v1/responses/resp_x", 405, "GET, DELETE"),
        ("PATCH", "/v1/responses/resp_x", 405, "GET, DELETE"),
        ("GET", CHAT_PATH, 405, "POST"),
        ("PUT", MSG_PATH, 405, "POST"),
        ("DELETE", RESP_PATH, 405, "POST"),
        ("POST", "/healthz", 405, "GET, HEAD"),
        ("POST", "/v1/chat%2Fcompletions", 404, None),
        ("POST", "/v1%2Fmessages", 404, None),
        ("GET", "/v1/no-such-route", 404, None),
        ("GET", "/v1/messages/batches", 404, None),
    ]
    for method, path, status, allow in checks:
        answer = call(gw.port, method, path, json.dumps(chat("ok")).encode(), auth)
        ok = (
            answer.status == status
            and answer.elapsed < 1.0
            and (allow is None or answer.header("allow") == allow)
        )
        ok = ok and error_shape_ok(
            path.replace("%2F", "/") if path.startswith("/v1/messages") else path, answer
        )
        res.case(
            "I7",
            ok,
            f"{method} {path}: {answer.status} allow={answer.header('allow')} in {answer.elapsed:.2f} s, "
            f"expected {status} {allow or ''}",
        )


def run_bedrock_masking(res: Results, gw: Gateway, key: str, aws_key_id: str) -> None:
    """I8 (item 8)."""
    for path, body in (
        (CHAT_PATH, chat("fz-leak")),
        (MSG_PATH, messages("fz-leak")),
        (RESP_PATH, {"model": "fz-leak", "input": "x"}),
    ):
        for stream in (False, True):
            answer = post(gw.port, key, path, {**body, "stream": stream})
            seen = answer.raw().decode("utf-8", "replace")
            leaks = [s for s in (aws_key_id, "Signature=") if s in seen]
            signature = any(
                len(w) == 64 and all(c in "0123456789abcdef" for c in w)
                for w in seen.replace(",", " ").split()
            )
            res.case(
                "I8",
                answer.status >= 400 and not leaks and not signature,
                f"POST {path} stream={stream} (Bedrock 400 echoing the credential): {answer.status} shows "
                f"{leaks or 'a 64-hex signature'}: {short(answer.body)}",
            )


def _raw_post(port: int, path: str, body: bytes, headers: list[tuple[str, str]]) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers)
        sock.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


def run_beta_headers(res: Results, up: Upstream, gw: Gateway, key: str) -> None:
    """I9 (item 9)."""
    base = [("authorization", f"Bearer {key}"), ("content-type", "application/json")]
    betas = [("anthropic-beta", "b1"), ("anthropic-beta", "b2"), ("openai-beta", "o1"), ("openai-beta", "o2")]
    status = _raw_post(gw.port, MSG_PATH, json.dumps(messages("claude-ok")).encode(), base + betas)
    got = dict(up.last_headers)
    res.case(
        "I9",
        status == 200 and got.get("anthropic-beta") == "b1, b2",
        f"/v1/messages to Anthropic with 2 anthropic-beta: {status}, upstream got "
        f"{got.get('anthropic-beta')!r}",
    )
    res.case(
        "I9",
        "openai-beta" not in got,
        f"/v1/messages to Anthropic: openai-beta forwarded ({got.get('openai-beta')!r})",
    )
    status = _raw_post(gw.port, RESP_PATH, json.dumps({"model": "ok", "input": "x"}).encode(), base + betas)
    got = dict(up.last_headers)
    res.case(
        "I9",
        got.get("openai-beta") == "o1, o2",
        f"/v1/responses to OpenAI with 2 openai-beta: {status}, upstream got {got.get('openai-beta')!r}",
    )
    res.case(
        "I9",
        not any(k.startswith("anthropic-") for k in got),
        f"/v1/responses to OpenAI: anthropic-* forwarded "
        f"({sorted(k for k in got if k.startswith('anthropic-'))})",
    )


def run_tenants(res: Results, config: Path, env: dict[str, str]) -> None:
    """I10 (item 10)."""
    for tenant, ok in (
        ("open", False),
        ("OPEN", False),
        ("a b", False),
        ("t\nx", False),
        ("x" * 65, False),
        ("", False),
        ("team-a.prod_1", True),
    ):
        out = keys_create(config, env, tenant, "t")
        res.case(
            "I10",
            (out.returncode == 0) == ok,
            f"keys create --tenant {tenant[:20]!r}: exit {out.returncode}, expected {'0' if ok else '2'}: "
            f"{out.stderr[-200:]}",
        )


def run_keepalive(res: Results, gw: Gateway, key: str) -> None:
    """I12 (item 12; the lead's fix): the model is silent for SILENT_S before its first output."""
    for path, body in ((CHAT_PATH, chat("silent", stream=True)), (MSG_PATH, messages("claude-silent", True))):
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            payload = json.dumps(body).encode()
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-type: "
                f"application/json\r\n"
                f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
                + payload
            )
            data, head_at = b"", None
            while chunk := sock.recv(65536):
                data += chunk
                if head_at is None and b"\r\n\r\n" in data:
                    head_at = time.monotonic() - started
        first_data = data.find(b"data:")
        keepalive = data.find(b": keep-alive")
        ok = data.startswith(b"HTTP/1.1 200") and head_at is not None and head_at < SILENT_S - 0.3
        ok = ok and 0 <= keepalive < first_data and (b"[DONE]" in data or b"message_stop" in data)
        res.case(
            "I12",
            ok,
            f"POST {path}, model silent {SILENT_S} s (commit after {STREAM_COMMIT_MS} ms): head at "
            f"{head_at}, keep-alive before first data: {0 <= keepalive < first_data}: {short(data, 300)}",
        )


def run_malformed_events(res: Results, gw: Gateway, key: str) -> None:
    """I13 (item 13; fidelity's fix): client-side renderers over an OpenAI-chat upstream."""
    for model in ("stream-malformed", "stream-array-event"):
        for path, body in (
            (MSG_PATH, messages(model, True)),
            (RESP_PATH, {"model": f"fz-openai-{model}", "input": "x", "stream": True}),
        ):
            try:
                answer = post(gw.port, key, path, body)
            except (OSError, http_client_errors()) as exc:
                res.case("I13", False, f"POST {path} upstream {model}: broken body ({exc!r})")
                continue
            events = [e for e in sse_events(answer.body) if not e.startswith(":")]
            last = events[-1] if events else ""
            clean_end = any(
                e.startswith(("event: message_stop", "event: response.completed")) for e in events
            )
            ok = answer.status == 200 and "error" in last and not clean_end
            res.case(
                "I13", ok, f"POST {path} upstream {model}: {answer.status}, last event {short(last, 200)}"
            )
