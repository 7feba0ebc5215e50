"""EdgeDistribution: one CloudFront distribution in front of every regional function URL, with a
CloudFront Function (viewer request) that picks the region per request from a KeyValueStore of
region health, a WAF web ACL, and the secret origin header only CloudFront sends.

WAF (optional per environment): per-IP rate limits over 5 minutes and over 1 minute, a per-API-key
rate limit (the `authorization` and `x-api-key` headers' values: one client cannot take the whole
gateway from many addresses), the IP reputation list and known bad inputs (block), anonymous IPs
(VPNs, Tor, hosting providers: counted, not blocked, to see before deciding). WAF logs go to a
CloudWatch log group with the credential headers redacted; CloudFront standard logs (no headers)
go to a bucket. With a custom domain the viewer TLS floor is TLSv1.2_2021."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, SecretValue
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

ROUTER_JS = Path(__file__).resolve().parents[1] / "edge" / "router.js"
ORIGIN_HEADER = "x-switchboard-origin"
ORIGIN_READ_TIMEOUT_S = 120
"""Origin read timeout: the longest wait for the first byte and between two chunks (default quota
max: 120 s). Every model's attempt budget is checked against it at synth (infra.gateway_config)."""
ORIGIN_CONNECTION_TIMEOUT_S = 2
ORIGIN_CONNECTION_ATTEMPTS = 2
"""A dead region holds a request at most 2 x 2 s before CloudFront answers 502/504 (defaults: 3 x
10 s). A function URL answers a TCP + TLS handshake in well under a second when it is up."""
CREDENTIAL_HEADERS = ("authorization", "x-api-key")
"""Redacted from WAF logs; also the keys of the per-API-key rate rules."""


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
        waf: bool = True,
        ip_limit_per_min: int = 2_000,
        key_limit_per_min: int = 1_200,
        access_logs: bool = True,
        log_retention_days: int = 90,
        domain_names: tuple[str, ...] = (),
        certificate_arn: str | None = None,
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
                connection_timeout=Duration.seconds(ORIGIN_CONNECTION_TIMEOUT_S),
                connection_attempts=ORIGIN_CONNECTION_ATTEMPTS,
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

        self.web_acl: wafv2.CfnWebACL | None = None
        if waf:
            self.web_acl = _web_acl(
                self, web_acl_name, rate_limit_per_5min, ip_limit_per_min, key_limit_per_min
            )
        self.log_bucket: s3.Bucket | None = None
        if access_logs:
            self.log_bucket = s3.Bucket(
                self,
                "Logs",
                # CloudFront standard logging writes with an ACL (its log delivery account)
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                encryption=s3.BucketEncryption.S3_MANAGED,
                enforce_ssl=True,
                lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(log_retention_days))],
                removal_policy=RemovalPolicy.RETAIN,
            )
            if self.web_acl is not None:
                waf_logs = logs.LogGroup(
                    self,
                    "WafLogs",
                    log_group_name=f"aws-waf-logs-{web_acl_name}",  # WAF requires the prefix
                    retention=logs.RetentionDays(_RETENTION_NAMES[log_retention_days]),
                    removal_policy=RemovalPolicy.RETAIN,
                )
                wafv2.CfnLoggingConfiguration(
                    self,
                    "WafLogging",
                    resource_arn=self.web_acl.attr_arn,
                    log_destination_configs=[waf_logs.log_group_arn],
                    redacted_fields=[
                        wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": name})
                        for name in CREDENTIAL_HEADERS
                    ],
                )
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn)
            if certificate_arn
            else None
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
            web_acl_id=self.web_acl.attr_arn if self.web_acl is not None else None,
            enable_ipv6=True,
            domain_names=list(domain_names) or None,
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            enable_logging=access_logs,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/" if access_logs else None,
        )


_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 731: "TWO_YEARS",
    1827: "FIVE_YEARS", 3653: "TEN_YEARS",
}  # fmt: skip


def _rate_rule(
    name: str, priority: int, limit: int, window_s: int, header: str | None = None
) -> wafv2.CfnWebACL.RuleProperty:
    custom_keys = None
    if header is not None:  # a request without the header is not counted by this rule
        custom_keys = [
            wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
                header=wafv2.CfnWebACL.RateLimitHeaderProperty(
                    name=header,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            )
        ]
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=limit,
                evaluation_window_sec=window_s,
                aggregate_key_type="CUSTOM_KEYS" if custom_keys else "IP",
                custom_keys=custom_keys,
            )
        ),
        visibility_config=_visibility(name),
    )


def _managed_rule(
    name: str, priority: int, group: str, *, count: bool = False
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        # count: the group's matches are only counted (its metrics and logs), never blocked
        override_action=wafv2.CfnWebACL.OverrideActionProperty(
            count={} if count else None, none=None if count else {}
        ),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=group
            )
        ),
        visibility_config=_visibility(name),
    )


def _web_acl(
    scope: Construct, name: str, per_5min: int, ip_per_min: int, key_per_min: int
) -> wafv2.CfnWebACL:
    return wafv2.CfnWebACL(
        scope,
        "WebAcl",
        scope="CLOUDFRONT",
        name=name,  # fixed: the WAF metrics' WebACL dimension (alarm, dashboard)
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility("switchboard-edge"),
        rules=[
            _rate_rule("rate-limit-per-ip", 0, per_5min, 300),
            _managed_rule("aws-ip-reputation", 1, "AWSManagedRulesAmazonIpReputationList"),
            _rate_rule("rate-limit-per-ip-1min", 2, ip_per_min, 60),
            _rate_rule("rate-limit-per-key-1min", 3, key_per_min, 60, CREDENTIAL_HEADERS[0]),
            _rate_rule("rate-limit-per-x-api-key-1min", 4, key_per_min, 60, CREDENTIAL_HEADERS[1]),
            _managed_rule("aws-known-bad-inputs", 5, "AWSManagedRulesKnownBadInputsRuleSet"),
            _managed_rule("aws-anonymous-ip-count", 6, "AWSManagedRulesAnonymousIpList", count=True),
        ],
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
