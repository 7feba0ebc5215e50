"""Region health prober: every minute, probe each region through CloudFront and read its error-rate
alarms, then update the KeyValueStore the router reads (decisions: health.py).

Environment: REGIONS (JSON list), KVS_ARN, DISTRIBUTION_DOMAIN, HEALTH_ALARMS (JSON: region -> alarm
names). The bundled botocore + awscrt sign the KeyValueStore API with SigV4A, which it requires.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

try:
    from health import Probe, plan  # type: ignore[import-not-found,no-redef,unused-ignore]  # the Lambda
except ImportError:  # pragma: no cover - imported as infra.prober.handler (type checks)
    from infra.prober.health import Probe, plan

TIMEOUT_S = 5.0


def probe_healthz(domain: str, region: str, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    url = f"https://{domain}/regions/{region}/healthz"
    request = urllib.request.Request(url, headers={"user-agent": "switchboard-prober"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https only)
            return response.status == 200, f"healthz {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"healthz {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return False, f"healthz {type(exc).__name__}"


def alarms_ok(session: Any, region: str, names: list[str]) -> tuple[bool, str]:
    try:
        client = session.create_client("cloudwatch", region_name=region)
        alarms = client.describe_alarms(AlarmNames=names)["MetricAlarms"]
    except Exception as exc:  # a CloudWatch outage must not evacuate a region
        return True, f"alarms unreadable ({type(exc).__name__})"
    firing = sorted(a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM")
    return not firing, ("alarms: " + ", ".join(firing)) if firing else "alarms ok"


def run(session: Any, env: dict[str, str]) -> dict[str, Any]:
    regions: list[str] = json.loads(env["REGIONS"])
    alarm_names: dict[str, list[str]] = json.loads(env["HEALTH_ALARMS"])
    arn = env["KVS_ARN"]
    probes = []
    for region in regions:
        healthy, healthz_detail = probe_healthz(env["DISTRIBUTION_DOMAIN"], region)
        quiet, alarm_detail = alarms_ok(session, region, alarm_names.get(region, []))
        probes.append(Probe(region, healthy, quiet, f"{healthz_detail}; {alarm_detail}"))
    kvs = session.create_client("cloudfront-keyvaluestore", region_name="us-east-1")
    etag = kvs.describe_key_value_store(KvsARN=arn)["ETag"]  # first: a concurrent write then fails IfMatch
    items: dict[str, str] = {}
    for page in kvs.get_paginator("list_keys").paginate(KvsARN=arn):
        items.update({item["Key"]: item["Value"] for item in page.get("Items", [])})
    writes = plan(items, probes)
    if writes:
        kvs.update_keys(
            KvsARN=arn, IfMatch=etag, Puts=[{"Key": k, "Value": v} for k, v in sorted(writes.items())]
        )
    report = {
        "probes": {p.region: {"ok": p.ok, "detail": p.detail} for p in probes},
        "writes": writes,
    }
    print(json.dumps(report, sort_keys=True))
    return report


def handler(event: object, context: object) -> dict[str, Any]:
    import botocore.session

    return run(botocore.session.get_session(), dict(os.environ))
