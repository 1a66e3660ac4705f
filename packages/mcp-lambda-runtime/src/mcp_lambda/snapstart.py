"""Lambda SnapStart: prime before the snapshot, repair after each restore; provisioned concurrency: prime at init.

With SnapStart, Lambda runs the init phase once, snapshots the memory, and starts every new environment
from a copy of it. Two things in a copy are wrong and must be repaired after restore: connections opened
before the snapshot (they are shared by every copy and long dead), and random state (every copy would
draw the same numbers). Before the snapshot the runtime serves one synthetic `tools/list`, so the
SDK's lazily built validators and serializers are in the snapshot instead of in each cold start.

The hooks come from `snapshot_restore_py`, which exists only in Lambda's Python runtimes; elsewhere
`install` does nothing (the same handlers run unchanged locally).

Provisioned concurrency initializes environments ahead of traffic (`AWS_LAMBDA_INITIALIZATION_TYPE` is
`provisioned-concurrency`), and the handler is created in that init phase (`handler = lambda_handler(mcp)` at
the end of the server's module): the runtime primes there too, so the first request finds the lifespan entered
and the SDK warm instead of paying for both while its client waits. An on-demand environment (`on-demand`)
does not: its init phase is the start of a request that is already waiting, and a lifespan entered before the
guards have seen that request would be work done for a request the runtime may refuse.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping

INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
"""Set by Lambda for the init phase: `on-demand`, `provisioned-concurrency` or `snap-start`."""
PROVISIONED_CONCURRENCY = "provisioned-concurrency"

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


def provisioned(environ: Mapping[str, str]) -> bool:
    """Whether Lambda is initializing this environment for provisioned concurrency: ahead of any request."""
    return environ.get(INITIALIZATION_TYPE) == PROVISIONED_CONCURRENCY
