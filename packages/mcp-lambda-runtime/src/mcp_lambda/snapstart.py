"""Lambda SnapStart: prime before the snapshot, repair after each restore.

With SnapStart, Lambda runs the init phase once, snapshots the memory, and starts every new environment
from a copy of it. Two things in a copy are wrong and must be repaired after restore: connections opened
before the snapshot (they are shared by every copy and long dead), and random state (every copy would
draw the same numbers). Before the snapshot the runtime serves one synthetic `tools/list`, so the
SDK's lazily built validators and serializers are in the snapshot instead of in each cold start.

The hooks come from `snapshot_restore_py`, which exists only in Lambda's Python runtimes; elsewhere
`install` does nothing (the same handlers run unchanged locally).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

_after_restore: list[Callable[[], None]] = []
_installed = False


def on_restore(callback: Callable[[], None]) -> None:
    """Run `callback` after every restore (for example: drop a connection so it is reopened)."""
    _after_restore.append(callback)


def run_restore_hooks() -> None:
    random.seed(os.urandom(32))
    for callback in list(_after_restore):
        callback()


def install(prime: Callable[[], None]) -> bool:
    """Register `prime` before the snapshot and the repairs after restore; False outside SnapStart."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    global _installed
    register_before_snapshot(prime)
    if not _installed:  # one repair pass per process, however many handlers it holds
        register_after_restore(run_restore_hooks)
        _installed = True
    return True
