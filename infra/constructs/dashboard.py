"""LatencyDashboard (per region, with alarms) and GlobalDashboard (all regions side by side, with
CloudFront's and WAF's metrics and the edge alarms).

Gateway metrics come from the EMF records the gateway writes (namespace `Switchboard`, dimensions
`region` + `service`). Those records only exist for requests the app answered, so crashes, init
failures, timeouts and throttles are seen through Lambda's own metrics (`Errors`, `Throttles`,
`Duration`), and what never reached a region through CloudFront's `5xxErrorRate`. Cold starts come
from the REPORT lines' `@initDuration` via a Logs Insights widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.paging import notify
from infra.thresholds import (
    DATAPOINTS_TO_ALARM,
    EVALUATION_PERIODS,
    GATEWAY_ERROR_PERCENT,
    PROVIDER_ERROR_PERCENT,
)

NAMESPACE = "Switchboard"
PERIOD = Duration.minutes(1)


HEALTH_ALARMS = ("GatewayErrorRate", "FunctionErrors", "Throttles")
"""The regional alarms whose ALARM state marks a region failing (the composite `RegionUnhealthy`,
the health prober, CodeDeploy's automatic rollback)."""
REGION_UNHEALTHY = "RegionUnhealthy"
CAUSE_METRIC = "FailuresByCause"


def alarm_name(env: str, region: str, alarm: str) -> str:
    return f"switchboard-{env}-{region}-{alarm}"


def cause_metric(region: str, cause: str, period: Duration = PERIOD) -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=CAUSE_METRIC,
        dimensions_map={"region": region, "service": "gateway", "cause": cause},
        statistic="Sum",
        period=period,
        region=region,
        label=f"{cause} failures",
    )


def gateway_metric(name: str, region: str, statistic: str = "p50", label: str | None = None) -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"region": region, "service": "gateway"},
        statistic=statistic,
        period=PERIOD,
        region=region,
        label=label or f"{name} {statistic}",
    )


class LatencyDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        region: str,
        alias: lambda_.Alias,
        function: lambda_.Function,
        log_group: logs.ILogGroup,
        p99_overhead_alarm_ms: float,
        topic: sns.ITopic | None,
        env_name: str,
        timeout_s: int,
    ) -> None:
        super().__init__(scope, construct_id)

        def m(name: str, stat: str = "p50", label: str | None = None) -> cw.Metric:
            return gateway_metric(name, region, stat, label)

        requests = m("Requests", "Sum", "requests")
        errors5xx = m("Errors5xx", "Sum", "5xx")
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Gateway overhead (ms)",
                left=[m("OverheadMs", s) for s in ("p50", "p90", "p99")],
                width=8,
            ),
            cw.GraphWidget(
                title="Upstream latency (ms)",
                left=[m("UpstreamMs", s) for s in ("p50", "p90", "p99")],
                width=8,
            ),
            cw.GraphWidget(
                title="Time to first token (ms)",
                left=[m("TimeToFirstTokenMs", s) for s in ("p50", "p90", "p99")],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Requests", left=[requests], width=8),
            cw.GraphWidget(
                title="Errors by class",
                left=[
                    errors5xx,
                    cause_metric(region, "gateway"),
                    cause_metric(region, "provider"),
                    cause_metric(region, "direct"),
                    m("Errors4xx", "Sum", "4xx"),
                    m("Failures", "Sum", "all targets failed"),
                    m("StreamErrors", "Sum", "streams cut"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Fallbacks and cache hit ratio",
                left=[m("Fallbacks", "Sum", "extra attempts")],
                right=[
                    cw.MathExpression(
                        expression="100 * hits / IF(hits + misses > 0, hits + misses, 1)",
                        using_metrics={"hits": m("CacheHits", "Sum"), "misses": m("CacheMisses", "Sum")},
                        label="cache hit %",
                        period=PERIOD,
                    )
                ],
                width=8,
            ),
        )
        utilization = alias.metric("ProvisionedConcurrencyUtilization", statistic="Maximum", period=PERIOD)
        spillover = alias.metric("ProvisionedConcurrencySpilloverInvocations", statistic="Sum", period=PERIOD)
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Provisioned concurrency", left=[utilization], right=[spillover], width=8),
            cw.GraphWidget(
                title="Throttles and concurrency",
                left=[function.metric_throttles(period=PERIOD)],
                right=[function.metric("ConcurrentExecutions", statistic="Maximum", period=PERIOD)],
                width=8,
            ),
            cw.LogQueryWidget(
                title="Cold starts (init duration, ms)",
                log_group_names=[log_group.log_group_name],
                query_lines=[
                    'filter @type = "REPORT" and ispresent(@initDuration)',
                    "stats count() as cold_starts, avg(@initDuration) as avg_ms,"
                    " max(@initDuration) as max_ms by bin(5m)",
                ],
                width=8,
            ),
        )
        invocations = function.metric_invocations(statistic="Sum", period=PERIOD)
        fn_errors = function.metric_errors(statistic="Sum", period=PERIOD)
        alias_invocations = alias.metric("Invocations", statistic="Sum", period=Duration.minutes(5))
        spillover5 = alias.metric(
            "ProvisionedConcurrencySpilloverInvocations", statistic="Sum", period=Duration.minutes(5)
        )

        def name(alarm: str) -> str:
            return alarm_name(env_name, region, alarm)

        near_timeout_ms = round(timeout_s * 1000 * 0.9)
        alarms = [
            cw.Alarm(
                self,
                "OverheadP99",
                alarm_name=name("OverheadP99"),
                metric=m("OverheadMs", "p99"),
                threshold=p99_overhead_alarm_ms,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Gateway overhead p99 above {p99_overhead_alarm_ms} ms in {region}",
            ),
            self._cause_rate(
                "GatewayErrorRate",
                name("GatewayErrorRate"),
                cause_metric(region, "gateway"),
                requests,
                GATEWAY_ERROR_PERCENT,
                f"More than {GATEWAY_ERROR_PERCENT}% of requests failed by the gateway itself in {region} "
                "(internal errors, store unavailable, origin secret unreadable or not matching "
                "CloudFront's): the region is broken (docs/runbook.md)",
            ),
            self._cause_rate(
                "ProviderErrorRate",
                name("ProviderErrorRate"),
                cause_metric(region, "provider"),
                requests,
                PROVIDER_ERROR_PERCENT,
                f"More than {PROVIDER_ERROR_PERCENT}% of requests in {region} failed because every provider "
                "target failed: a provider outage (not a region failure; the prober evacuates only a region "
                "clearly worse than the others)",
            ),
            cw.Alarm(
                self,
                "DirectCalls",
                alarm_name=name("DirectCalls"),
                metric=cause_metric(region, "direct", Duration.minutes(5)),
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Calls to the function URL in {region} that did not come through "
                "CloudFront (no origin header): someone found the URL; they skip WAF and use reserved "
                "concurrency (docs/runbook.md, threat model)",
            ),
            cw.Alarm(
                self,
                "FunctionErrors",
                alarm_name=name("FunctionErrors"),
                metric=cw.MathExpression(
                    expression="100 * e / IF(i > 0, i, 1)",
                    using_metrics={"e": fn_errors, "i": invocations},
                    period=PERIOD,
                    label="invocation errors %",
                ),
                threshold=5,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"More than 5% of invocations failed in {region}: crashes, init "
                "failures and timeouts, which write no request record",
            ),
            cw.Alarm(
                self,
                "Throttles",
                alarm_name=name("Throttles"),
                metric=function.metric_throttles(statistic="Sum", period=PERIOD),
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Invocations throttled in {region} (reserved concurrency or the "
                "account quota reached: scripts/preflight)",
            ),
            cw.Alarm(
                self,
                "DurationNearTimeout",
                alarm_name=name("DurationNearTimeout"),
                metric=function.metric_duration(statistic="Maximum", period=PERIOD),
                threshold=near_timeout_ms,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"An invocation ran over 90% of the {timeout_s} s function timeout in "
                f"{region} (a timeout cuts the response and writes no request record)",
            ),
            cw.Alarm(
                self,
                "Spillover",
                alarm_name=name("Spillover"),
                metric=cw.MathExpression(
                    expression="100 * s / IF(i > 0, i, 1)",
                    using_metrics={"s": spillover5, "i": alias_invocations},
                    period=Duration.minutes(5),
                    label="spillover %",
                ),
                threshold=10,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"More than 10% of invocations spilled past provisioned concurrency "
                f"(cold starts) over 5 minutes in {region}: scaling cannot keep up, or provisioned_max is "
                "too low",
            ),
        ]
        self.alarms = {alarm.node.id: alarm for alarm in alarms}
        self.health_alarms = [self.alarms[a] for a in HEALTH_ALARMS]
        self.region_unhealthy = cw.CompositeAlarm(
            self,
            REGION_UNHEALTHY,
            composite_alarm_name=name(REGION_UNHEALTHY),
            alarm_rule=cw.AlarmRule.any_of(*self.health_alarms),
            alarm_description=f"{region} is failing by its own fault (gateway errors, Lambda errors or "
            "throttles): the prober evacuates it, CodeDeploy rolls a deployment back. docs/runbook.md",
        )
        notify(self.region_unhealthy, topic)
        for alarm in alarms:
            if alarm not in self.health_alarms:  # the composite pages for its members
                notify(alarm, topic)
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(alarms=[self.region_unhealthy, *alarms], title="Alarms", width=24)
        )

    def _cause_rate(
        self,
        construct_id: str,
        alarm_name: str,
        failed: cw.Metric,
        requests: cw.Metric,
        percent: int,
        text: str,
    ) -> cw.Alarm:
        """% of the region's requests that failed with one cause, M of N one-minute periods."""
        return cw.Alarm(
            self,
            construct_id,
            alarm_name=alarm_name,
            metric=cw.MathExpression(
                expression="100 * e / IF(r > 0, r, 1)",
                using_metrics={"e": failed, "r": requests},
                period=PERIOD,
                label=f"{failed.label} %",
            ),
            threshold=percent,
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=text,
        )


@dataclass(frozen=True)
class EdgeMetrics:
    distribution_id: str
    web_acl_name: str | None
    """None: no WAF in this environment."""


def cloudfront_metric(distribution_id: str, name: str, statistic: str, label: str) -> cw.Metric:
    return cw.Metric(
        namespace="AWS/CloudFront",
        metric_name=name,
        dimensions_map={"DistributionId": distribution_id, "Region": "Global"},
        statistic=statistic,
        period=PERIOD,
        region="us-east-1",
        label=label,
    )


def waf_metric(web_acl_name: str, name: str, label: str) -> cw.Metric:
    return cw.Metric(
        namespace="AWS/WAFV2",
        metric_name=name,
        dimensions_map={"WebACL": web_acl_name, "Rule": "ALL"},
        statistic="Sum",
        period=PERIOD,
        region="us-east-1",
        label=label,
    )


class GlobalDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        regions: Sequence[str],
        edge: EdgeMetrics,
        env_name: str,
        topic: sns.ITopic | None,
        waf_block_alarm_per_5min: int = 1000,
        extra_alarms: Sequence[cw.Alarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))

        def cf(name: str, stat: str, label: str) -> cw.Metric:
            return cloudfront_metric(edge.distribution_id, name, stat, label)

        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="CloudFront requests",
                left=[cf("Requests", "Sum", "requests")],
                right=[cf("BytesDownloaded", "Sum", "bytes out")],
                width=8,
            ),
            cw.GraphWidget(
                title="CloudFront error rates (%)",
                left=[
                    cf("5xxErrorRate", "Average", "5xx %"),
                    cf("4xxErrorRate", "Average", "4xx %"),
                    cf("TotalErrorRate", "Average", "all errors %"),
                ],
                width=8,
            ),
        )
        if edge.web_acl_name is not None:
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title="WAF",
                    left=[
                        waf_metric(edge.web_acl_name, "AllowedRequests", "allowed"),
                        waf_metric(edge.web_acl_name, "BlockedRequests", "blocked"),
                    ],
                    width=8,
                )
            )
        for title, name, stat in (
            ("Gateway overhead p99 (ms) by region", "OverheadMs", "p99"),
            ("Gateway overhead p50 (ms) by region", "OverheadMs", "p50"),
            ("Upstream latency p50 (ms) by region", "UpstreamMs", "p50"),
            ("Time to first token p50 (ms) by region", "TimeToFirstTokenMs", "p50"),
            ("Requests by region", "Requests", "Sum"),
            ("5xx by region", "Errors5xx", "Sum"),
        ):
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title=title,
                    left=[gateway_metric(name, r, stat, r) for r in regions],
                    width=12,
                )
            )
        alarms = [
            cw.Alarm(
                self,
                "CloudFront5xxRate",
                alarm_name=f"switchboard-{env_name}-edge-CloudFront5xxRate",
                metric=cf("5xxErrorRate", "Average", "5xx %"),
                threshold=5,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="More than 5% of viewer requests answered 5xx by CloudFront: origin "
                "timeouts (504), unreachable regions (502) and everything the gateways answered 5xx",
            ),
            cw.Alarm(
                self,
                "CloudFront4xxRate",
                alarm_name=f"switchboard-{env_name}-edge-CloudFront4xxRate",
                metric=cf("4xxErrorRate", "Average", "4xx %"),
                threshold=25,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="More than 25% of viewer requests answered 4xx: a botched origin-secret "
                "rotation (every request 403), a key revoked for a busy client, or WAF blocking a "
                "client (docs/runbook.md)",
            ),
            *extra_alarms,
        ]
        if edge.web_acl_name is not None:
            alarms.append(
                cw.Alarm(
                    self,
                    "WafBlocks",
                    alarm_name=f"switchboard-{env_name}-edge-WafBlocks",
                    metric=waf_metric(edge.web_acl_name, "BlockedRequests", "blocked").with_(
                        period=Duration.minutes(5)
                    ),
                    threshold=waf_block_alarm_per_5min,
                    comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                    alarm_description=f"WAF blocked more than {waf_block_alarm_per_5min} requests in 5 "
                    "minutes (rate limits, IP reputation, known bad inputs): an attack, or a client being "
                    "locked out",
                )
            )
        self.alarms = {alarm.node.id: alarm for alarm in alarms}
        self.dashboard.add_widgets(cw.AlarmStatusWidget(alarms=alarms, title="Edge alarms", width=24))
        for alarm in alarms:
            notify(alarm, topic)
