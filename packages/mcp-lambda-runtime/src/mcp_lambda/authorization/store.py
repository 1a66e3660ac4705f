"""The authorization server's state: small JSON items addressed by a kind and a key, each expiring.

Registered clients, pending sign-ins, authorization codes, refresh-token families, fetched client metadata
documents: every one lives for a bounded time and is read and written whole, by whichever execution
environment gets the next request. So the store is a key-value map with a TTL and three atomic operations,
which is what a single DynamoDB table does with conditional writes and nothing else:

- `put(..., if_absent=True)`: create once (a registration, a pending sign-in under a fresh id);
- `swap`: compare-and-swap on a version (rotating a refresh token: of two concurrent refreshes with the
  same token exactly one wins, and the loser is detected as a replay);
- `take`: delete-and-return (an authorization code is redeemed at most once, RFC 9700 §4.2.1 / OAuth 2.1 §4.1.3).

`MemoryStore` serves the local server and tests; `DynamoStore` serves Lambda. The contract tests
(tests/authorization/test_store.py) run the same cases against both.

Table schema (created by the CDK side): partition key `pk` (S) = "<kind>#<key>", no sort key, TTL on
`expires_at` (N, epoch seconds), plus `data` (S, the item as JSON) and `version` (N). DynamoDB deletes
expired items lazily (up to days later), so every read and every condition treats an item whose
`expires_at` has passed as absent.

IAM: dynamodb:GetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem on the table.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mcp_lambda import contract as c

Clock = Callable[[], float]

MAX_KEY_BYTES = 1000
"""Keys longer than this (UTF-8) are stored under their SHA-256: see `partition_key`."""

_KIND = re.compile(r"[a-z][a-z0-9_-]*\Z")


@dataclass(frozen=True)
class Record:
    """A live item and its version, for a later `swap`."""

    item: dict[str, Any]
    """JSON-compatible: str, int, float, bool, None, list, dict (with str keys)."""
    version: int


class Store(Protocol):
    def get(self, kind: str, key: str) -> Record | None:
        """The live item, or None when absent or expired."""
        ...

    def put(self, kind: str, key: str, item: dict[str, Any], *, ttl: int, if_absent: bool = False) -> bool:
        """Store `item` at version 1, expiring `ttl` seconds from now.

        With `if_absent`, only when no live item exists (an expired one counts as absent): False otherwise.
        Without it the item is overwritten and the answer is True."""
        ...

    def swap(self, kind: str, key: str, item: dict[str, Any], *, version: int, ttl: int | None = None) -> bool:
        """Replace the item iff a live item at exactly `version` exists; the new version is `version + 1`.

        `ttl` None keeps the current expiry. False (never an exception) when the condition fails."""
        ...

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """Delete and return the live item: of concurrent callers, exactly one gets it."""
        ...

    def delete(self, kind: str, key: str) -> None:
        """Remove the item, live or not, if any."""
        ...


def partition_key(kind: str, key: str) -> str:
    """The item's address: "<kind>#<key>", or "<kind>!<sha256 hex of key>" for a key over MAX_KEY_BYTES.

    Keys can be anything a client sends, URLs included (a client metadata document is keyed by its URL, the
    client_id), and DynamoDB refuses a partition key over 2048 bytes. A long key is replaced by its SHA-256,
    which is as unique as the key itself. The separator says which form it is, and a kind cannot contain either
    separator, so a short key can never spell a hashed one ("cimd#!abc" is the key "!abc", "cimd!abc" a hash).
    """
    if not _KIND.match(kind):
        raise ValueError(f"invalid kind {kind!r}: lower-case letters, digits, '_' and '-', starting with a letter")
    encoded = key.encode("utf-8")
    if len(encoded) > MAX_KEY_BYTES:
        return f"{kind}!{hashlib.sha256(encoded).hexdigest()}"
    return f"{kind}#{key}"


def _encode(item: dict[str, Any]) -> str:
    """The item as JSON text: stored as such in both stores, so both accept and return exactly the same values
    (DynamoDB's own number type would come back as Decimal and refuse floats; NaN and Infinity are not JSON)."""
    if not isinstance(item, dict):
        raise TypeError(f"an item is a dict, not {type(item).__name__}")
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _number(value: float) -> dict[str, str]:
    return {"N": repr(float(value))}


def _expiry(now: float, ttl: int) -> int:
    """Epoch seconds, whole (DynamoDB's TTL reads a number of seconds); rounded up, so an item lives at least `ttl`."""
    return math.ceil(now + ttl)


class MemoryStore:
    """Items in a dict behind a lock: the local server's request threads share it."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._items: dict[str, tuple[str, int, int]] = {}  # pk -> (JSON, version, expires_at)
        self._lock = threading.Lock()

    def _live(self, pk: str) -> tuple[str, int, int] | None:
        entry = self._items.get(pk)
        if entry is not None and entry[2] <= self._clock():
            del self._items[pk]
            return None
        return entry

    def get(self, kind: str, key: str) -> Record | None:
        pk = partition_key(kind, key)
        with self._lock:
            entry = self._live(pk)
        return None if entry is None else Record(json.loads(entry[0]), entry[1])

    def put(self, kind: str, key: str, item: dict[str, Any], *, ttl: int, if_absent: bool = False) -> bool:
        pk, data = partition_key(kind, key), _encode(item)
        with self._lock:
            if if_absent and self._live(pk) is not None:
                return False
            self._items[pk] = (data, 1, _expiry(self._clock(), ttl))
            return True

    def swap(self, kind: str, key: str, item: dict[str, Any], *, version: int, ttl: int | None = None) -> bool:
        pk, data = partition_key(kind, key), _encode(item)
        with self._lock:
            entry = self._live(pk)
            if entry is None or entry[1] != version:
                return False
            self._items[pk] = (data, version + 1, entry[2] if ttl is None else _expiry(self._clock(), ttl))
            return True

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        pk = partition_key(kind, key)
        with self._lock:
            entry = self._live(pk)
            if entry is None:
                return None
            del self._items[pk]
        return json.loads(entry[0])

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._items.pop(partition_key(kind, key), None)


def _dynamodb_client() -> Any:
    """A DynamoDB client that fails fast: a sign-in or token request stuck on a stalled connection would otherwise
    wait out botocore's default 60 s read timeout, times its retries, holding the client and a Lambda instance."""
    import boto3  # in the Lambda runtime; loaded only by functions that keep authorization state
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(connect_timeout=2, read_timeout=5,
                                                  retries={"total_max_attempts": 3, "mode": "standard"}))


# Every attribute goes through a placeholder: DATA is one of DynamoDB's reserved words.
_NAMES = {"#pk": c.AS_TABLE_PARTITION_KEY, "#exp": c.AS_TABLE_TTL_ATTRIBUTE, "#data": "data", "#version": "version"}


class DynamoStore:
    """Items in one DynamoDB table, every write under a condition that DynamoDB evaluates atomically with it."""

    def __init__(self, table_name: str, *, client: Any = None, clock: Clock = time.time) -> None:
        self.table_name = table_name
        self._client = client
        self._clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _dynamodb_client()
        return self._client

    def _key(self, kind: str, key: str) -> dict[str, Any]:
        return {c.AS_TABLE_PARTITION_KEY: {"S": partition_key(kind, key)}}

    def _names(self, expression: str) -> dict[str, str]:
        """The placeholders an expression uses (DynamoDB refuses unused ones)."""
        return {name: value for name, value in _NAMES.items() if name in expression}

    def get(self, kind: str, key: str) -> Record | None:
        found = self.client.get_item(TableName=self.table_name, Key=self._key(kind, key), ConsistentRead=True).get("Item")
        if found is None or float(found[c.AS_TABLE_TTL_ATTRIBUTE]["N"]) <= self._clock():
            return None
        return Record(json.loads(found["data"]["S"]), int(found["version"]["N"]))

    def put(self, kind: str, key: str, item: dict[str, Any], *, ttl: int, if_absent: bool = False) -> bool:
        now = self._clock()
        stored = {
            **self._key(kind, key),
            "data": {"S": _encode(item)},
            "version": {"N": "1"},
            c.AS_TABLE_TTL_ATTRIBUTE: {"N": str(_expiry(now, ttl))},
        }
        if not if_absent:
            self.client.put_item(TableName=self.table_name, Item=stored)
            return True
        condition = "attribute_not_exists(#pk) OR #exp <= :now"
        try:
            self.client.put_item(TableName=self.table_name, Item=stored, ConditionExpression=condition,
                                 ExpressionAttributeNames=self._names(condition),
                                 ExpressionAttributeValues={":now": _number(now)})
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def swap(self, kind: str, key: str, item: dict[str, Any], *, version: int, ttl: int | None = None) -> bool:
        now = self._clock()
        update = "SET #data = :data, #version = :next"
        values = {":data": {"S": _encode(item)}, ":next": {"N": str(version + 1)}, ":version": {"N": str(version)},
                  ":now": _number(now)}
        if ttl is not None:
            update += ", #exp = :exp"
            values[":exp"] = {"N": str(_expiry(now, ttl))}
        # A missing item fails the condition too (its attributes do not exist), so swap never creates one.
        condition = "#version = :version AND #exp > :now"
        try:
            self.client.update_item(TableName=self.table_name, Key=self._key(kind, key), UpdateExpression=update,
                                    ConditionExpression=condition, ExpressionAttributeNames=self._names(update + condition),
                                    ExpressionAttributeValues=values)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        condition = "#exp > :now"
        try:
            response = self.client.delete_item(TableName=self.table_name, Key=self._key(kind, key), ReturnValues="ALL_OLD",
                                               ConditionExpression=condition, ExpressionAttributeNames=self._names(condition),
                                               ExpressionAttributeValues={":now": _number(self._clock())})
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        # DynamoDB answers a lost race with ConditionalCheckFailed; no Attributes means nothing was deleted
        # either (moto's answer to the same race), so only the caller that received the item has it.
        old = response.get("Attributes")
        return None if old is None else json.loads(old["data"]["S"])

    def delete(self, kind: str, key: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=self._key(kind, key))


def store_from_environment() -> Store:
    """The deployed store: DynamoDB on the table the CDK side names in MCP_AS_TABLE."""
    table = os.environ.get(c.MCP_AS_TABLE)
    if not table:
        raise RuntimeError(f"{c.MCP_AS_TABLE} is not set: the authorization server needs its DynamoDB table")
    return DynamoStore(table)
