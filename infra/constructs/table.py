"""GatewayTable: the DynamoDB global table for keys, counters and cache entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"


class GatewayTable(Construct):
    """Single-table design: `pk` / `sk` strings, TTL on `expires_at` (epoch seconds; the lazy TTL
    sweep means readers must also filter on it), on-demand billing, point-in-time recovery, and a
    replica in every other gateway region (multi-region eventual consistency, last writer wins)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        replica_regions: Sequence[str],
        deletion_protection: bool,
        kms_key_arns: Mapping[str, str] | None = None,
        primary_region: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        encryption = None
        if kms_key_arns:  # data residency: a customer-managed key per replica (each region's own)
            encryption = dynamodb.TableEncryptionV2.customer_managed_key(
                kms.Key.from_key_arn(self, "Key", kms_key_arns[primary_region]),
                {r: arn for r, arn in kms_key_arns.items() if r != primary_region} or None,
            )
        self.table = dynamodb.TableV2(
            self,
            "Table",
            # A fixed name: each region's gateway addresses its own replica by it (no cross-region
            # reference needed).
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=deletion_protection,
            removal_policy=RemovalPolicy.RETAIN if deletion_protection else RemovalPolicy.DESTROY,
            replicas=[dynamodb.ReplicaTableProps(region=region) for region in replica_regions],
            encryption=encryption,
        )
