"""DynamoDB backend: the single table of the CDK data stack (`pk` / `sk` strings, TTL on
`expires_at`, a Global Table replica per region). The boto3 client is injected or created on first
use (never at import); calls run in worker threads. Conditional writes make `put(if_absent)` and
`add` atomic; expired items are filtered on read and restarted by `add`. `add_once` writes the counter
and its token's marker item in one transaction (TransactWriteItems: twice the write units of a plain
update, for each of the two items)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar

from switchboard.errors import StoreError
from switchboard.state.store.base import ONCE_TTL_S, Item, bounded, live, once_key

T = TypeVar("T")
_FAILED = "ConditionalCheckFailed"
_LIVE_ITEM = "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at > :now)"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class DynamoDBStore:
    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
        timeout_s: float | None = None,
    ) -> None:
        self._table = table
        self._region = region
        self._endpoint = endpoint_url
        self._client = client
        self._timeout_s = timeout_s
        """Each call's bound (`[store] timeout_ms`); also botocore's connect and read timeouts."""
        # its own threads: calls stuck on a hung endpoint must not starve the loop's default executor
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="switchboard-dynamodb")
        self._serializer: Any = None
        self._deserializer: Any = None
        self._ready = False
        self._setup = threading.Lock()

    def _c(self) -> Any:
        """The client, created once: first calls arrive in several worker threads at a time, and
        boto3 clients must not be created concurrently (nor would many be wanted)."""
        if not self._ready:
            with self._setup:
                if not self._ready:
                    if self._client is None:
                        import boto3
                        from botocore.config import Config

                        # explicit bounds: botocore's defaults are 60 s connect and read timeouts
                        # and up to 3 legacy-mode attempts, minutes of waiting on a hung endpoint
                        io_s = self._timeout_s or 10.0
                        bounds = Config(
                            connect_timeout=io_s,
                            read_timeout=io_s,
                            retries={"mode": "standard", "max_attempts": 2},
                        )
                        self._client = boto3.client(
                            "dynamodb", region_name=self._region, endpoint_url=self._endpoint, config=bounds
                        )
                    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

                    self._serializer, self._deserializer = TypeSerializer(), TypeDeserializer()
                    self._ready = True
        return self._client

    async def _run(self, fn: Callable[[Any], T]) -> T:
        def call() -> T:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return fn(self._c())
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    raise
                raise StoreError(
                    f"dynamodb store failed: {exc.response.get('Error', {}).get('Code')}"
                ) from None
            except BotoCoreError as exc:
                raise StoreError(f"dynamodb store failed: {type(exc).__name__}") from None

        loop = asyncio.get_running_loop()
        if not self._ready:  # once per process: importing boto3 and building the client is not a store call
            await loop.run_in_executor(self._executor, self._c)
        return await bounded(loop.run_in_executor(self._executor, call), self._timeout_s)

    def _ser(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in attributes.items() if v is not None}

    def _de(self, item: Mapping[str, Any]) -> Item:
        out = {k: _plain(self._deserializer.deserialize(v)) for k, v in item.items()}
        out.setdefault("expires_at", None)
        return out

    @staticmethod
    def _conditional_failed(exc: Exception) -> bool:
        response = getattr(exc, "response", None)
        return (
            isinstance(response, dict)
            and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        )

    async def get(self, pk: str, sk: str) -> Item | None:
        def read(client: Any) -> Item | None:
            found = client.get_item(
                TableName=self._table, Key=self._ser({"pk": pk, "sk": sk}), ConsistentRead=True
            )
            item = self._de(found["Item"]) if "Item" in found else None
            return item if live(item) else None

        return await self._run(read)

    async def put(
        self,
        pk: str,
        sk: str,
        attributes: Mapping[str, Any],
        *,
        expires_at: int | None = None,
        if_absent: bool = False,
    ) -> bool:
        def write(client: Any) -> bool:
            item = {
                **{k: v for k, v in attributes.items() if k not in ("pk", "sk", "expires_at")},
                "pk": pk,
                "sk": sk,
                "expires_at": expires_at,
            }
            kwargs: dict[str, Any] = {"TableName": self._table, "Item": self._ser(item)}
            if if_absent:
                kwargs["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at <= :now"
                kwargs["ExpressionAttributeValues"] = self._ser({":now": int(time.time())})
            try:
                client.put_item(**kwargs)
            except Exception as exc:
                if self._conditional_failed(exc):
                    return False
                raise
            return True

        return await self._run(write)

    async def update(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> bool:
        def write(client: Any) -> bool:
            names = {f"#a{i}": k for i, k in enumerate(attributes)}
            values = {f":v{i}": v for i, v in enumerate(attributes.values())}
            values[":now"] = int(time.time())
            try:
                client.update_item(
                    TableName=self._table,
                    Key=self._ser({"pk": pk, "sk": sk}),
                    UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes))),
                    ConditionExpression=_LIVE_ITEM,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=self._ser(values),
                )
            except Exception as exc:
                if self._conditional_failed(exc):
                    return False
                raise
            return True

        return await self._run(write)

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], *, expires_at: int | None = None
    ) -> dict[str, int]:
        def write(client: Any) -> dict[str, int]:
            for _ in range(3):
                try:
                    result = client.update_item(
                        **self._add_update(pk, sk, deltas, expires_at),
                        ReturnValues="ALL_NEW",  # UPDATED_NEW may omit a counter an ADD of 0 left alone
                    )
                    new = self._de(result["Attributes"])
                    return {name: int(new.get(name, 0)) for name in deltas}
                except Exception as exc:
                    if not self._conditional_failed(exc):
                        raise
                # expired: replace it with a fresh item, unless another writer already did
                fresh = {
                    "pk": pk,
                    "sk": sk,
                    "expires_at": expires_at,
                    **{k: int(v) for k, v in deltas.items()},
                }
                try:
                    client.put_item(
                        TableName=self._table,
                        Item=self._ser(fresh),
                        ConditionExpression="expires_at <= :now",
                        ExpressionAttributeValues=self._ser({":now": int(time.time())}),
                    )
                    return {k: int(v) for k, v in deltas.items()}
                except Exception as exc:
                    if not self._conditional_failed(exc):
                        raise
            raise StoreError("dynamodb counter kept racing its expiry")

        return await self._run(write)

    def _add_update(
        self, pk: str, sk: str, deltas: Mapping[str, int], expires_at: int | None
    ) -> dict[str, Any]:
        """The UpdateItem arguments that add `deltas` to a live (or absent) item."""
        names = {f"#c{i}": k for i, k in enumerate(deltas)}
        values: dict[str, Any] = {f":d{i}": int(v) for i, v in enumerate(deltas.values())}
        values[":now"] = int(time.time())
        expression = "ADD " + ", ".join(f"#c{i} :d{i}" for i in range(len(deltas)))
        if expires_at is not None:
            values[":e"] = int(expires_at)
            expression += " SET expires_at = if_not_exists(expires_at, :e)"
        return {
            "TableName": self._table,
            "Key": self._ser({"pk": pk, "sk": sk}),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_not_exists(expires_at) OR expires_at > :now",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": self._ser(values),
        }

    async def add_once(
        self,
        pk: str,
        sk: str,
        deltas: Mapping[str, int],
        token: str,
        *,
        expires_at: int | None = None,
    ) -> bool:
        def write(client: Any) -> bool:
            marker_pk, marker_sk = once_key(token, pk, sk)
            marker = {
                "Put": {
                    "TableName": self._table,
                    "Item": self._ser(
                        {"pk": marker_pk, "sk": marker_sk, "expires_at": int(time.time()) + ONCE_TTL_S}
                    ),
                    # present until TTL actually deletes it, expired or not: a longer memory is safe
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            why = "the counter kept racing its expiry"
            for _ in range(3):
                reasons = self._transact(
                    client, [marker, {"Update": self._add_update(pk, sk, deltas, expires_at)}]
                )
                expired = reasons is not None and reasons[0] != _FAILED and reasons[1] == _FAILED
                if expired:
                    # the counter expired: replace it with a fresh one, unless another writer did
                    fresh = {
                        "pk": pk,
                        "sk": sk,
                        "expires_at": expires_at,
                        **{k: int(v) for k, v in deltas.items()},
                    }
                    replace = {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._ser(fresh),
                            "ConditionExpression": "expires_at <= :now",
                            "ExpressionAttributeValues": self._ser({":now": int(time.time())}),
                        }
                    }
                    reasons = self._transact(client, [marker, replace])
                    if reasons is not None and reasons[0] != _FAILED and reasons[1] == _FAILED:
                        continue
                if reasons is None:
                    return True
                if reasons[0] == _FAILED:
                    return False  # this token was applied before
                why = "transaction cancelled (" + ", ".join(reasons) + ")"
                break
            raise StoreError(f"dynamodb store failed: {why}")

        return await self._run(write)

    @staticmethod
    def _transact(client: Any, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction; None when it committed, else why each item cancelled it."""
        try:
            client.transact_write_items(TransactItems=items)
        except Exception as exc:
            response = getattr(exc, "response", None)
            if not isinstance(response, dict) or response.get("Error", {}).get("Code") != (
                "TransactionCanceledException"
            ):
                raise
            reasons = [str(r.get("Code") or "None") for r in response.get("CancellationReasons") or []]
            return reasons + ["None"] * (len(items) - len(reasons))
        return None

    def _paginate(self, client: Any, operation: str, **kwargs: Any) -> list[Item]:
        items: list[Item] = []
        now = time.time()
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(item for item in (self._de(raw) for raw in page.get("Items", [])) if live(item, now))
        return items

    async def query(self, pk: str, sk_prefix: str = "") -> list[Item]:
        def read(client: Any) -> list[Item]:
            condition = "pk = :pk" + (" AND begins_with(sk, :p)" if sk_prefix else "")
            values = {":pk": pk, **({":p": sk_prefix} if sk_prefix else {})}
            return self._paginate(
                client,
                "query",
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=self._ser(values),
                ConsistentRead=True,
            )

        return await self._run(read)

    async def scan_prefix(self, pk_prefix: str) -> list[Item]:
        def read(client: Any) -> list[Item]:
            items = self._paginate(
                client,
                "scan",
                TableName=self._table,
                FilterExpression="begins_with(pk, :p)",
                ExpressionAttributeValues=self._ser({":p": pk_prefix}),
            )
            return sorted(items, key=lambda item: (str(item["pk"]), str(item["sk"])))

        return await self._run(read)

    async def delete(self, pk: str, sk: str) -> None:
        await self._run(
            lambda client: client.delete_item(TableName=self._table, Key=self._ser({"pk": pk, "sk": sk}))
        )

    async def close(self) -> None:
        return None
