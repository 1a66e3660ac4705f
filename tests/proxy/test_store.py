"""The credential store: file modes, atomic writes, the cross-process lock, and the OS keychain path."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import anyio
import pytest

from mcp_lambda_proxy import store as store_module
from mcp_lambda_proxy.store import CredentialStore, FileLock, StoreError, config_dir
from tests.proxy.helpers import ROOT

SECRETS = {"access_token": "at-1", "refresh_token": "rt-1", "id_token": "idt-1", "client_secret": "cs-1"}


def record(url: str = "https://example.com/mcp") -> dict:
    return {"url": url, "client": {"client_id": "c1"}, "tokens": {"expires_at": 123.0}, "secrets": dict(SECRETS)}


def test_file_store_is_private_and_written_atomically(tmp_path):
    directory = tmp_path / "deep" / "config"

    async def scenario():
        store = CredentialStore(directory, backend="file")
        await store.write("one", record())
        await store.write("two", record("https://other.example/mcp"))
        return store, await store.read("one"), await store.read("missing")

    store, one, missing = anyio.run(scenario)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert one["secrets"] == SECRETS and one["url"] == "https://example.com/mcp"
    assert missing == {"secrets": {}}
    data = json.loads(store.path.read_text())
    assert set(data["servers"]) == {"one", "two"}, "writing one record keeps the others"
    assert sorted(p.name for p in directory.iterdir()) == ["credentials.json", "credentials.lock"], "no temp files"


def test_a_damaged_file_is_reported_not_overwritten(tmp_path):
    (tmp_path / "credentials.json").write_text("{not json")

    async def scenario():
        store = CredentialStore(tmp_path, backend="file")
        with pytest.raises(StoreError, match="not valid JSON"):
            await store.read("x")
        with pytest.raises(StoreError):
            await store.write("x", record())

    anyio.run(scenario)
    assert (tmp_path / "credentials.json").read_text() == "{not json"


def test_delete_forgets_a_record(tmp_path):
    async def scenario():
        store = CredentialStore(tmp_path, backend="file")
        await store.write("one", record())
        return await store.delete("one"), await store.delete("one"), await store.read("one")

    assert anyio.run(scenario) == (True, False, {"secrets": {}})


HOLDER = textwrap.dedent("""
    import sys, time, anyio
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from mcp_lambda_proxy.store import FileLock

    async def main():
        async with FileLock(Path({path!r})):
            print("held", flush=True)
            await anyio.sleep({seconds})

    anyio.run(main)
""")


def test_the_lock_excludes_another_process(tmp_path):
    path = tmp_path / "credentials.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(ROOT), path=str(path), seconds=1.5)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"

        async def acquire() -> float:
            started = time.monotonic()
            async with FileLock(path):
                return time.monotonic() - started

        waited = anyio.run(acquire)
    finally:
        holder.wait(10)
    assert waited > 0.8, "waited for the other process to let go"


def test_the_lock_is_reentrant_in_one_task_and_times_out_for_others(tmp_path):
    path = tmp_path / "credentials.lock"

    async def scenario():
        lock = FileLock(path, timeout=0.3)
        async with lock:
            async with lock:  # the same task: a sign-in holding the lock writes the store
                assert lock.held
            other = FileLock(path, timeout=0.3)  # another holder (as another process would be)
            with pytest.raises(StoreError, match="held"):
                async with other:
                    pass
        assert not lock.held

    anyio.run(scenario)


@pytest.fixture
def fake_keyring(monkeypatch):
    vault: dict[tuple[str, str], str] = {}
    module = types.ModuleType("keyring")
    errors = types.ModuleType("keyring.errors")

    class Backend:
        priority = 1
        fail_next_write = False

    backend = Backend()

    def set_password(service: str, name: str, value: str) -> None:
        if backend.fail_next_write:
            backend.fail_next_write = False
            raise RuntimeError("value too large for the credential manager")
        vault[(service, name)] = value

    module.get_keyring = lambda: backend
    module.get_password = lambda service, name: vault.get((service, name))
    module.set_password = set_password
    module.delete_password = lambda service, name: vault.pop((service, name), None)
    module.errors = errors
    monkeypatch.setitem(sys.modules, "keyring", module)
    monkeypatch.setitem(sys.modules, "keyring.errors", errors)
    return vault, backend


def test_secrets_go_to_the_keychain_when_there_is_one(tmp_path, fake_keyring):
    vault, backend = fake_keyring

    async def scenario():
        store = CredentialStore(tmp_path)
        assert store.backend == "keyring"
        await store.write("one", record())
        read = await store.read("one")
        backend.fail_next_write = True
        await store.write("two", record())  # a keychain that refuses: the 0600 file keeps them
        return read, await store.read("two")

    read, two = anyio.run(scenario)
    text = (tmp_path / "credentials.json").read_text()
    data = json.loads(text)
    assert data["servers"]["one"]["secrets_in"] == "keyring"
    assert "secrets" not in data["servers"]["one"]
    assert json.loads(vault[("mcp-lambda-proxy", "one")]) == SECRETS
    assert read["secrets"] == SECRETS
    assert data["servers"]["two"]["secrets"] == SECRETS and two["secrets"] == SECRETS
    assert "at-1" not in json.dumps(data["servers"]["one"])


def test_no_keychain_means_the_file(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # not installed
    assert CredentialStore(tmp_path).backend == "file"
    with pytest.raises(StoreError, match="no usable OS keychain"):
        CredentialStore(tmp_path, backend="keyring")
    with pytest.raises(StoreError, match="unknown credential store"):
        CredentialStore(tmp_path, backend="vault")


@pytest.mark.parametrize(
    ("platform", "variables", "expected"),
    [
        ("linux", {}, "{home}/.config/mcp-lambda-proxy"),
        ("linux", {"XDG_CONFIG_HOME": "{home}/xdg"}, "{home}/xdg/mcp-lambda-proxy"),
        ("darwin", {}, "{home}/Library/Application Support/mcp-lambda-proxy"),
        ("win32", {"APPDATA": "{home}/Roaming"}, "{home}/Roaming/mcp-lambda-proxy"),
        ("linux", {"MCP_LAMBDA_PROXY_CONFIG_DIR": "{home}/explicit"}, "{home}/explicit"),
    ],
)
def test_config_dir_per_platform(monkeypatch, tmp_path, platform, variables, expected):
    home = str(tmp_path)
    monkeypatch.setattr(store_module.sys, "platform", platform)
    monkeypatch.setenv("HOME", home)
    for name in ("APPDATA", "XDG_CONFIG_HOME", "MCP_LAMBDA_PROXY_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(home=home))
    assert config_dir() == Path(expected.format(home=home))
