"""SQLite backend: the embedded default. One WAL-mode file shared by every process on the machine
(`switchboard serve` workers and the `switchboard keys` CLI). Calls run on worker threads, so the
event loop never blocks on disk: writes on one thread and connection (atomic across processes inside
`BEGIN IMMEDIATE` transactions), reads on another, so a read never queues behind a write waiting
for a lock another process holds (WAL readers do not wait for writers). A lock wait is bounded by
the busy timeout (`[store] timeout_ms`)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from switchboard.errors import StoreError
from switchboard.state.store.base import ONCE_PREFIX, ONCE_TTL_S, Item, bounded, live, now, once_key

T = TypeVar("T")
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID
"""


class SQLiteStore:
    def __init__(self, path: str, *, timeout_s: float | None = None) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._busy_ms = int((timeout_s or 10.0) * 1000)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchboard-sqlite")
        # a second file connection for reads (":memory:" is one database per connection: one only)
        self._reader = (
            self._executor
            if path == ":memory:"
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchboard-sqlite-read")
        )
        self._db: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None
        self._once_writes = 0

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _connect_reader(self) -> sqlite3.Connection:
        if self._reader is self._executor:
            return self._connect()
        if self._rdb is None:
            self._rdb = self._open()
        return self._rdb

    def _open(self) -> sqlite3.Connection:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        busy_s = self._busy_ms / 1000.0
        db = sqlite3.connect(self._path, timeout=busy_s, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
        # Switching to WAL and creating the table take locks that busy_timeout does not always
        # wait for when several processes open a new file at once: retry briefly.
        for attempt in range(50):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(SCHEMA)
                break
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.02 * (1 + attempt % 5))
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on the writer's thread and connection."""
        return await self._on(self._executor, self._connect, fn)

    async def _read_only(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on the reader's thread and connection (never behind a write)."""
        return await self._on(self._reader, self._connect_reader, fn)

    async def _on(
        self,
        executor: ThreadPoolExecutor,
        connect: Callable[[], sqlite3.Connection],
        fn: Callable[[sqlite3.Connection], T],
    ) -> T:
        def call() -> T:
            try:
                return fn(connect())
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite store failed: {type(exc).__name__}") from None

        return await bounded(asyncio.get_running_loop().run_in_executor(executor, call), self._timeout_s)

    @staticmethod
    def _row(pk: str, sk: str, data: str, expires_at: int | None) -> Item:
        return {**json.loads(data), "pk": pk, "sk": sk, "expires_at": expires_at}

    @staticmethod
    def _read(db: sqlite3.Connection, pk: str, sk: str) -> Item | None:
        row = db.execute("SELECT data, expires_at FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        if row is None:
            return None
        item = SQLiteStore._row(pk, sk, row[0], row[1])
        return item if live(item) else None

    @staticmethod
    def _write(
        db: sqlite3.Connection, pk: str, sk: str, attributes: Mapping[str, Any], expires_at: int | None
    ) -> None:
        data = json.dumps({k: v for k, v in attributes.items() if k not in ("pk", "sk", "expires_at")})
        db.execute(
            "INSERT OR REPLACE INTO items (pk, sk, data, expires_at) VALUES (?, ?, ?, ?)",
            (pk, sk, data, expires_at),
        )

    @staticmethod
    def _transaction(db: sqlite3.Connection, fn: Callable[[], T]) -> T:
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def get(self, pk: str, sk: str) -> Item | None:
        return await self._read_only(lambda db: self._read(db, pk, sk))

    async def put(
        self,
        pk: str,
        sk: str,
        attributes: Mapping[str, Any],
        *,
        expires_at: int | None = None,
        if_absent: bool = False,
    ) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                if if_absent and self._read(db, pk, sk) is not None:
                    return False
                self._write(db, pk, sk, attributes, expires_at)
                return True

            return self._transaction(db, body)

        return await self._run(write)

    async def update(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                item = self._read(db, pk, sk)
                if item is None:
                    return False
                item.update(attributes)
                self._write(db, pk, sk, item, item.get("expires_at"))
                return True

            return self._transaction(db, body)

        return await self._run(write)

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], *, expires_at: int | None = None
    ) -> dict[str, int]:
        def write(db: sqlite3.Connection) -> dict[str, int]:
            return self._transaction(db, lambda: self._add(db, pk, sk, deltas, expires_at))

        return await self._run(write)

    @staticmethod
    def _add(
        db: sqlite3.Connection, pk: str, sk: str, deltas: Mapping[str, int], expires_at: int | None
    ) -> dict[str, int]:
        item = SQLiteStore._read(db, pk, sk) or {"expires_at": expires_at}
        for name, delta in deltas.items():
            item[name] = int(item.get(name, 0)) + int(delta)
        SQLiteStore._write(db, pk, sk, item, item.get("expires_at"))
        return {name: int(item[name]) for name in deltas}

    async def add_once(
        self,
        pk: str,
        sk: str,
        deltas: Mapping[str, int],
        token: str,
        *,
        expires_at: int | None = None,
    ) -> bool:
        marker_pk, marker_sk = once_key(token, pk, sk)

        def write(db: sqlite3.Connection) -> bool:
            def body() -> bool:
                seen = db.execute(
                    "SELECT 1 FROM items WHERE pk = ? AND sk = ?", (marker_pk, marker_sk)
                ).fetchone()
                if seen is not None:  # expired or not: markers count until deleted (as in DynamoDB)
                    return False
                self._add(db, pk, sk, deltas, expires_at)
                self._write(db, marker_pk, marker_sk, {}, int(now()) + ONCE_TTL_S)
                return True

            applied = self._transaction(db, body)
            self._once_writes += 1
            if self._once_writes % 1024 == 0:  # nothing else deletes expired rows here
                db.execute(
                    "DELETE FROM items WHERE pk >= ? AND pk < ? AND expires_at <= ?",
                    (ONCE_PREFIX, ONCE_PREFIX[:-1] + chr(ord(ONCE_PREFIX[-1]) + 1), int(now())),
                )
            return applied

        return await self._run(write)

    async def query(self, pk: str, sk_prefix: str = "") -> list[Item]:
        def read(db: sqlite3.Connection) -> list[Item]:
            rows = db.execute(
                "SELECT sk, data, expires_at FROM items WHERE pk = ? AND substr(sk, 1, ?) = ? ORDER BY sk",
                (pk, len(sk_prefix), sk_prefix),
            ).fetchall()
            at = now()
            return [item for item in (self._row(pk, sk, d, e) for sk, d, e in rows) if live(item, at)]

        return await self._read_only(read)

    async def scan_prefix(self, pk_prefix: str) -> list[Item]:
        def read(db: sqlite3.Connection) -> list[Item]:
            # a key range, not substr(): the primary key's index is used instead of a full scan
            end = pk_prefix[:-1] + chr(ord(pk_prefix[-1]) + 1) if pk_prefix else "\U0010ffff"
            rows = db.execute(
                "SELECT pk, sk, data, expires_at FROM items WHERE pk >= ? AND pk < ? ORDER BY pk, sk",
                (pk_prefix, end),
            ).fetchall()
            at = now()
            return [item for item in (self._row(*row) for row in rows) if live(item, at)]

        return await self._read_only(read)

    async def delete(self, pk: str, sk: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (pk, sk)))

    async def close(self) -> None:
        def shut(db: sqlite3.Connection) -> None:
            db.close()
            self._db = None

        def shut_reader(db: sqlite3.Connection) -> None:
            db.close()
            self._rdb = None

        if self._rdb is not None:
            await self._read_only(shut_reader)
        if self._db is not None:
            await self._run(shut)
        self._executor.shutdown(wait=True)
        self._reader.shutdown(wait=True)
