"""One contract for the authorization server's store, run against MemoryStore and DynamoStore (moto, in process).

Both stores get the same injected clock, so expiry is tested by advancing it rather than by sleeping, and the
DynamoDB conditions (`:now`) move with it. The moto table is made as the CDK side makes it: partition key
`pk` (S), TTL on `expires_at`. moto never expires items itself, like DynamoDB within its lazy window, so the
reads and conditions are what is tested.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mcp_lambda import contract as c
from mcp_lambda.authorization.store import DynamoStore, MemoryStore, Record, Store, partition_key, store_from_environment

TABLE = "mcp-as-state"


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": c.AS_TABLE_PARTITION_KEY, "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": c.AS_TABLE_PARTITION_KEY, "KeyType": "HASH"}])
        client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": c.AS_TABLE_TTL_ATTRIBUTE})
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest, clock: Clock) -> Store:
    if request.param == "memory":
        return MemoryStore(clock=clock)
    return DynamoStore(TABLE, client=request.getfixturevalue("dynamodb"), clock=clock)


NESTED = {
    "client_name": "Zoë's MCP client ☃ 日本語",
    "redirect_uris": ["http://127.0.0.1:33418/callback", "https://app.example.com/cb?x=1&y=%20"],
    "scores": [0.1, 1e-7, 123456.789, -2.5, 1.7976931348623157e308],
    "counts": {"zero": 0, "big": 2**62, "negative": -1},
    "flags": {"public": True, "confidential": False, "nothing": None},
    "deep": {"a": [{"b": [[], {}, ""]}]},
}


def test_put_then_get_round_trips_nested_json(store: Store) -> None:
    assert store.put("client", "abc", NESTED, ttl=3600)
    record = store.get("client", "abc")
    assert record == Record(NESTED, 1)
    assert json.dumps(record.item, sort_keys=True) == json.dumps(NESTED, sort_keys=True)
    assert isinstance(record.item["scores"][0], float) and isinstance(record.item["counts"]["big"], int)
    assert store.get("client", "other") is None
    assert store.get("request", "abc") is None, "kinds are separate"


def test_items_that_are_not_json_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.put("client", "nan", {"x": float("nan")}, ttl=60)
    with pytest.raises(TypeError):
        store.put("client", "set", {"x": {1, 2}}, ttl=60)
    with pytest.raises(ValueError, match="kind"):
        store.put("Client#", "x", {}, ttl=60)


def test_expired_items_read_as_absent(store: Store, clock: Clock) -> None:
    store.put("code", "c1", {"v": 1}, ttl=60)
    clock.advance(59)
    assert store.get("code", "c1") is not None
    clock.advance(1)
    assert store.get("code", "c1") is None, "expires_at <= now is expired"


def test_put_over_an_existing_item_overwrites_and_restarts_the_version(store: Store) -> None:
    store.put("client", "k", {"v": 1}, ttl=60)
    assert store.swap("client", "k", {"v": 2}, version=1)
    assert store.put("client", "k", {"v": 3}, ttl=60)
    assert store.get("client", "k") == Record({"v": 3}, 1)


def test_if_absent_refuses_a_live_item_and_accepts_over_an_expired_one(store: Store, clock: Clock) -> None:
    assert store.put("request", "r", {"v": 1}, ttl=60, if_absent=True)
    assert not store.put("request", "r", {"v": 2}, ttl=60, if_absent=True)
    assert store.get("request", "r").item == {"v": 1}
    clock.advance(60)
    assert store.put("request", "r", {"v": 3}, ttl=60, if_absent=True)
    assert store.get("request", "r") == Record({"v": 3}, 1)


def test_swap_wins_once_per_version(store: Store) -> None:
    store.put("refresh", "family-1", {"generation": 0}, ttl=600)
    first, second = store.get("refresh", "family-1"), store.get("refresh", "family-1")
    outcomes = [store.swap("refresh", "family-1", {"generation": n}, version=record.version)
                for n, record in ((1, first), (2, second))]
    assert outcomes == [True, False], "two swaps from the same version: exactly one wins"
    assert store.get("refresh", "family-1") == Record({"generation": 1}, 2)
    assert store.swap("refresh", "family-1", {"generation": 3}, version=2)
    assert not store.swap("refresh", "family-1", {"generation": 4}, version=2), "stale"
    assert not store.swap("refresh", "family-1", {"generation": 5}, version=7), "from the future"
    assert store.get("refresh", "family-1") == Record({"generation": 3}, 3)


def test_swap_keeps_or_sets_the_expiry(store: Store, clock: Clock) -> None:
    store.put("family", "kept", {"v": 0}, ttl=100)
    store.put("family", "set", {"v": 0}, ttl=100)
    clock.advance(50)
    assert store.swap("family", "kept", {"v": 1}, version=1)
    assert store.swap("family", "set", {"v": 1}, version=1, ttl=100)
    clock.advance(50)
    assert store.get("family", "kept") is None, "ttl None kept the first expiry"
    assert store.get("family", "set") == Record({"v": 1}, 2)
    clock.advance(50)
    assert store.get("family", "set") is None


def test_swap_does_not_create_or_revive(store: Store, clock: Clock) -> None:
    assert not store.swap("family", "missing", {"v": 1}, version=1)
    assert store.get("family", "missing") is None
    store.put("family", "old", {"v": 0}, ttl=10)
    clock.advance(10)
    assert not store.swap("family", "old", {"v": 1}, version=1, ttl=100)
    assert store.get("family", "old") is None


def test_take_returns_the_item_once(store: Store) -> None:
    store.put("code", "c", NESTED, ttl=60)
    assert store.take("code", "c") == NESTED
    assert store.take("code", "c") is None
    assert store.get("code", "c") is None
    assert store.take("code", "never") is None


def test_take_of_an_expired_item_returns_none(store: Store, clock: Clock) -> None:
    store.put("code", "c", {"v": 1}, ttl=60)
    clock.advance(60)
    assert store.take("code", "c") is None


def race_to_take(store: Store, code: str, racers: int = 8) -> list[Any]:
    """What each of `racers` threads got from `take`, all released at once."""
    start = threading.Barrier(racers)
    results: list[Any] = []
    lock = threading.Lock()

    def redeem() -> None:
        start.wait()
        taken = store.take("code", code)
        with lock:
            results.append(taken)

    threads = [threading.Thread(target=redeem) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_of_eight_racing_takes_exactly_one_gets_the_code(store: Store) -> None:
    for round_ in range(10):
        store.put("code", f"code-{round_}", {"round": round_}, ttl=60)
        results = race_to_take(store, f"code-{round_}")
        assert len(results) == 8
        assert [r for r in results if r is not None] == [{"round": round_}]


def test_long_url_keys(store: Store) -> None:
    short = "https://client.example.com/oauth/metadata.json?v=1#frag"
    long = "https://client.example.com/" + "ü/" * 600  # 1,227 UTF-8 bytes
    longer = long + "x"
    for key in (short, long, longer):
        assert store.put("cimd", key, {"url": key}, ttl=60, if_absent=True)
    for key in (short, long, longer):
        assert store.get("cimd", key).item == {"url": key}
    assert store.swap("cimd", long, {"url": long, "refreshed": True}, version=1)
    assert store.get("cimd", longer).item == {"url": longer}, "distinct long keys stay distinct"
    assert store.take("cimd", long) == {"url": long, "refreshed": True}
    assert store.get("cimd", longer) is not None


def test_delete(store: Store, clock: Clock) -> None:
    store.put("client", "gone", {"v": 1}, ttl=60)
    store.put("client", "stays", {"v": 1}, ttl=60)
    store.delete("client", "gone")
    store.delete("client", "never-there")
    assert store.get("client", "gone") is None
    assert store.get("client", "stays") is not None
    assert store.put("client", "gone", {"v": 2}, ttl=60, if_absent=True)


# -- what DynamoStore writes ---------------------------------------------------------------------------------


def test_partition_keys_are_unambiguous_and_bounded() -> None:
    long = "https://example.com/" + "a" * 2000
    assert partition_key("cimd", "https://example.com/a") == "cimd#https://example.com/a"
    hashed = partition_key("cimd", long)
    assert hashed.startswith("cimd!") and len(hashed.encode()) < 100
    assert partition_key("cimd", hashed[len("cimd!"):]) != hashed, "a short key cannot spell a hashed one"
    assert len(partition_key("cimd", "é" * 500).encode()) <= 1000 + len("cimd#"), "1,000 bytes are kept as they are"
    assert partition_key("cimd", "é" * 501).startswith("cimd!"), "the limit counts bytes, not characters"


def test_the_items_have_the_attributes_the_cdk_table_is_made_for(dynamodb: Any, clock: Clock) -> None:
    store = DynamoStore(TABLE, client=dynamodb, clock=clock)
    store.put("client", "c1", {"name": "one", "ratio": 0.5}, ttl=3600)
    store.put("cimd", "https://example.com/" + "a" * 1200, {"n": 1}, ttl=60)
    store.swap("client", "c1", {"name": "one", "ratio": 0.75}, version=1)
    items = {item[c.AS_TABLE_PARTITION_KEY]["S"]: item for item in dynamodb.scan(TableName=TABLE)["Items"]}
    assert set(items["client#c1"]) == {c.AS_TABLE_PARTITION_KEY, c.AS_TABLE_TTL_ATTRIBUTE, "data", "version"}
    assert items["client#c1"][c.AS_TABLE_TTL_ATTRIBUTE] == {"N": str(int(clock.now) + 3600)}, "whole epoch seconds"
    assert items["client#c1"]["version"] == {"N": "2"}
    assert json.loads(items["client#c1"]["data"]["S"]) == {"name": "one", "ratio": 0.75}
    (hashed,) = [pk for pk in items if pk.startswith("cimd!")]
    assert len(hashed) == len("cimd!") + 64
    description = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert description["AttributeName"] == c.AS_TABLE_TTL_ATTRIBUTE


def test_errors_other_than_a_failed_condition_propagate(dynamodb: Any) -> None:
    store = DynamoStore("no-such-table", client=dynamodb)
    for call in (lambda: store.get("client", "x"), lambda: store.put("client", "x", {}, ttl=60, if_absent=True),
                 lambda: store.swap("client", "x", {}, version=1), lambda: store.take("client", "x")):
        with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
            call()


def test_the_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(c.MCP_AS_TABLE, raising=False)
    with pytest.raises(RuntimeError, match=c.MCP_AS_TABLE):
        store_from_environment()
    monkeypatch.setenv(c.MCP_AS_TABLE, TABLE)
    store = store_from_environment()
    assert isinstance(store, DynamoStore) and store.table_name == TABLE


def test_the_default_client_fails_fast(dynamodb: Any, clock: Clock) -> None:
    store = DynamoStore(TABLE, clock=clock)
    store.put("client", "c", {"v": 1}, ttl=60)
    assert store.get("client", "c") == Record({"v": 1}, 1)
    config = store.client.meta.config
    assert config.connect_timeout <= 5 and config.read_timeout <= 10 and config.retries["total_max_attempts"] <= 3
