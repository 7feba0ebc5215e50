"""Region health prober: every minute, call each region's deep health check through CloudFront (the
origin header path included), read its health alarms and its provider failure rate, then vote in
the KeyValueStore the router reads (decisions: health.py). Probers run in two regions (VOTER is
this one's name, VOTERS all of them), so one prober's network trouble cannot evacuate a region.

Environment: REGIONS (JSON list), KVS_ARN, DISTRIBUTION_DOMAIN, HEALTH_ALARMS (JSON: region -> alarm
names), VOTER, VOTERS (JSON list). The bundled botocore + awscrt sign the KeyValueStore API with
SigV4A, which it requires.
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
HEALTH_PATH = "/healthz/deep"  # behind the origin guard: secret, store, configuration (no provider)
WINDOW_S = 300


def probe_healthz(domain: str, region: str, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    url = f"https://{domain}/regions/{region}{HEALTH_PATH}"
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


def provider_failures(session: Any, region: str) -> tuple[float | None, int]:
    """(% of requests failed by the providers, requests) over the last WINDOW_S in `region`."""
    import datetime

    def query(qid: str, name: str, extra: dict[str, str]) -> dict[str, Any]:
        dims = [{"Name": "region", "Value": region}, {"Name": "service", "Value": "gateway"}]
        dims += [{"Name": k, "Value": v} for k, v in extra.items()]
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {"Namespace": "Switchboard", "MetricName": name, "Dimensions": dims},
                "Period": WINDOW_S,
                "Stat": "Sum",
            },
        }

    end = datetime.datetime.now(datetime.UTC)
    try:
        client = session.create_client("cloudwatch", region_name=region)
        result = client.get_metric_data(
            MetricDataQueries=[
                query("requests", "Requests", {}),
                query("provider", "FailuresByCause", {"cause": "provider"}),
            ],
            StartTime=end - datetime.timedelta(seconds=WINDOW_S),
            EndTime=end,
        )
    except Exception:  # unknown: never a reason to evacuate
        return None, 0
    sums = {r["Id"]: sum(r.get("Values", [])) for r in result.get("MetricDataResults", [])}
    requests = int(sums.get("requests", 0))
    if not requests:
        return None, 0
    return 100.0 * sums.get("provider", 0.0) / requests, requests


def run(session: Any, env: dict[str, str]) -> dict[str, Any]:
    regions: list[str] = json.loads(env["REGIONS"])
    alarm_names: dict[str, list[str]] = json.loads(env["HEALTH_ALARMS"])
    arn = env["KVS_ARN"]
    probes = []
    for region in regions:
        healthy, healthz_detail = probe_healthz(env["DISTRIBUTION_DOMAIN"], region)
        quiet, alarm_detail = alarms_ok(session, region, alarm_names.get(region, []))
        pct, requests = provider_failures(session, region)
        probes.append(Probe(region, healthy, quiet, f"{healthz_detail}; {alarm_detail}", pct, requests))
    kvs = session.create_client("cloudfront-keyvaluestore", region_name="us-east-1")
    etag = kvs.describe_key_value_store(KvsARN=arn)["ETag"]  # first: a concurrent write then fails IfMatch
    items: dict[str, str] = {}
    for page in kvs.get_paginator("list_keys").paginate(KvsARN=arn):
        items.update({item["Key"]: item["Value"] for item in page.get("Items", [])})
    voter = env.get("VOTER", "")
    writes = plan(items, probes, voter=voter, voters=json.loads(env.get("VOTERS", "[]")) or [voter])
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
