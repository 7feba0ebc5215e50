"""LatencyDashboard (per region, with alarms) and GlobalDashboard (all regions side by side).

Gateway metrics come from the EMF records the gateway writes (namespace `Switchboard`, dimensions
`region` + `service`); Lambda's own metrics (provisioned concurrency, throttles) are per alias; cold
starts come from the REPORT lines' `@initDuration` via a Logs Insights widget.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

NAMESPACE = "Switchboard"
PERIOD = Duration.minutes(1)


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
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        m = lambda name, stat="p50", label=None: gateway_metric(name, region, stat, label)  # noqa: E731
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
        topic = None
        if alarm_email:
            topic = sns.Topic(self, "Alarms", enforce_ssl=True)
            topic.add_subscription(subs.EmailSubscription(alarm_email))
        alarms = [
            cw.Alarm(
                self,
                "OverheadP99",
                metric=m("OverheadMs", "p99"),
                threshold=p99_overhead_alarm_ms,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Gateway overhead p99 above {p99_overhead_alarm_ms} ms in {region}",
            ),
            cw.Alarm(
                self,
                "ErrorRate5xx",
                metric=cw.MathExpression(
                    expression="100 * e / IF(r > 0, r, 1)",
                    using_metrics={"e": errors5xx, "r": requests},
                    period=PERIOD,
                    label="5xx %",
                ),
                threshold=5,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"More than 5% of requests answered 5xx in {region}",
            ),
            cw.Alarm(
                self,
                "Spillover",
                metric=spillover,
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Spillover past provisioned concurrency (cold starts) in {region}",
            ),
        ]
        self.dashboard.add_widgets(cw.AlarmStatusWidget(alarms=alarms, title="Alarms", width=24))
        if topic is not None:
            for alarm in alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))


class GlobalDashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, regions: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
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
