"""The shared store behind keys, rate-limit counters, the response cache and usage accounting.

One small async interface (`base.Store`) over items addressed by a partition key and a sort key,
with an optional expiry (epoch seconds), and three backends, one file each: `memory` (tests),
`sqlite` (the embedded default for `switchboard serve`: a local WAL-mode file, driven from a worker
thread so the event loop never blocks) and `dynamodb` (production: the single table the CDK stack
creates - `pk`, `sk`, TTL on `expires_at` - with an injectable, lazily created boto3 client).
Expired items are filtered on every read: DynamoDB's TTL sweep is lazy.
"""

from switchboard.store.base import Item, Store, StoreError, StoreSettings, open_store

__all__ = ["Item", "Store", "StoreError", "StoreSettings", "open_store"]
