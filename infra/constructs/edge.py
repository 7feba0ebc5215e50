"""EdgeDistribution: one CloudFront distribution in front of every regional function URL, with a
CloudFront Function (viewer request) that picks the region per request from a KeyValueStore of
region health, a WAF web ACL, and the secret origin header only CloudFront sends."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, SecretValue
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

ROUTER_JS = Path(__file__).resolve().parents[1] / "edge" / "router.js"
ORIGIN_HEADER = "x-switchboard-origin"
ORIGIN_READ_TIMEOUT_S = 120
"""Origin read timeout: the longest wait for the first byte and between two chunks (default quota
max: 120 s). Every model's attempt budget is checked against it at synth (infra.gateway_config)."""


def render_router(regions: list[str], default_region: str) -> str:
    config = json.dumps({"regions": regions, "defaultRegion": default_region}, separators=(",", ":"))
    return ROUTER_JS.read_text().replace("__SWITCHBOARD_CONFIG__", config)


class EdgeDistribution(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        origin_hosts: Mapping[str, str],
        default_region: str,
        origin_secret_name: str,
        response_completion_timeout_s: int,
        origin_secret_version: str = "1",
        origins_revision: str = "1",
        web_acl_name: str = "switchboard-edge",
        rate_limit_per_5min: int = 20_000,
    ) -> None:
        super().__init__(scope, construct_id)
        regions = list(origin_hosts)
        self.health_store = cloudfront.KeyValueStore(
            self,
            "RegionHealth",
            # Values: healthy | unhealthy (manual) | probe-unhealthy (the prober) | force-healthy
            # (infra/prober/health.py). The comment stays as deployed: no needless store update.
            comment="Switchboard region health: set a region to 'unhealthy' to evacuate it",
            source=cloudfront.ImportSource.from_inline(
                json.dumps({"data": [{"key": region, "value": "healthy"} for region in regions]})
            ),
        )
        self.router = cloudfront.Function(
            self,
            "Router",
            code=cloudfront.FunctionCode.from_inline(render_router(regions, default_region)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            key_value_store=self.health_store,
            comment="Switchboard: pick the regional origin per request",
        )
        # Resolved by CloudFormation at deploy time (a dynamic reference): never in the template.
        secret = SecretValue.secrets_manager(origin_secret_name, json_field="current").unsafe_unwrap()
        # Each host is the gateway stack's `OriginHost` output (Fn::GetStackOutput, used as it is).
        regional = {
            region: origins.HttpOrigin(
                host,
                origin_id=region,
                custom_headers={ORIGIN_HEADER: secret},
                protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                read_timeout=Duration.seconds(ORIGIN_READ_TIMEOUT_S),
                keepalive_timeout=Duration.seconds(60),
                # No response can outlive the function (its timeout, at most 900 s).
                response_completion_timeout=Duration.seconds(response_completion_timeout_s),
            )
            for region, host in origin_hosts.items()
        }
        # CACHING_DISABLED: with any other cache policy CloudFront strips `Authorization` from GET
        # and HEAD requests (e.g. the OpenAI SDK's models.list()). The viewer-country header the
        # router reads comes from the origin request policy (AllViewerExceptHostHeader forwards
        # every CloudFront-Viewer-* header).
        cache_policy = cloudfront.CachePolicy.CACHING_DISABLED

        def behavior(origin: origins.HttpOrigin) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=origin,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cache_policy,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                compress=False,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=self.router, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            )

        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            name=web_acl_name,  # fixed: the WAF metrics' WebACL dimension (alarm, dashboard)
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("switchboard-edge"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-limit-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=rate_limit_per_5min, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=_visibility("rate-limit-per-ip"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-ip-reputation",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesAmazonIpReputationList"
                        )
                    ),
                    visibility_config=_visibility("aws-ip-reputation"),
                ),
            ],
        )
        default_origin = regional[default_region]
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            # Bumping the version changes the template, which makes CloudFormation resolve the
            # origin secret again (README: rotating the origin secret).
            # The origins' revision does the same for the gateway hosts (weak references are not
            # re-resolved when only a gateway stack changed; README: "a gateway was recreated").
            comment=f"Switchboard AI gateway (origin secret v{origin_secret_version}, "
            f"origins r{origins_revision})",
            default_behavior=behavior(default_origin),
            # One behaviour per region: /regions/<region>/* pins a region (the router strips the
            # prefix), and it is what puts every regional origin into the distribution.
            additional_behaviors={
                "/v1/*": behavior(default_origin),
                **{f"/regions/{region}/*": behavior(origin) for region, origin in regional.items()},
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_ALL,
            web_acl_id=self.web_acl.attr_arn,
            enable_ipv6=True,
        )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
