"""Which servers the local server serves: the declarations of a project, or server folders given by hand.

A project declares its servers once (`ServerSpec`s in a module's `SERVERS`, by convention `mcp_servers.py`
next to the CDK app); `mcp-lambda serve` reads that module, or takes server folders directly, declaring each
from what it holds. Once a handler is imported, its declaration is checked against it, so that what is
served locally is what the CDK app would deploy.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_lambda.spec import HANDLER_ATTRIBUTE, SERVER_MODULE, ServerSpec, SpecError

#: The module a project declares its servers in, read when `mcp-lambda serve` is given nothing else.
DECLARATIONS_FILE = "mcp_servers.py"
DECLARATIONS_NAME = "SERVERS"

# What a local server trusts by default: loopback hosts on any port, and pages served from loopback
# (MCP Inspector runs on localhost). Read by the runtime as MCP_ALLOWED_HOSTS / MCP_ALLOWED_ORIGINS.
LOCAL_ENVIRONMENT: dict[str, str] = {
    "MCP_ALLOWED_HOSTS": "127.0.0.1:*,localhost:*,[::1]:*,127.0.0.1,localhost",
    "MCP_ALLOWED_ORIGINS": "http://127.0.0.1:*,http://localhost:*,http://[::1]:*",
    # EMF lines are for CloudWatch; locally they would only bury the logs.
    "POWERTOOLS_METRICS_DISABLED": "true",
    # Task workers notice cancellation at each heartbeat; with the in-memory store a beat costs nothing.
    "MCP_TASKS_HEARTBEAT_SECONDS": "1",
}


def import_handler(server: ServerSpec) -> Any:
    """The server's handler, imported as Lambda imports it: with the server folder's parent as code root."""
    root = str(server.folder.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(f"{server.package}.{SERVER_MODULE}")
    try:
        return getattr(module, HANDLER_ATTRIBUTE)
    except AttributeError:
        raise SpecError(f"{server.folder / (SERVER_MODULE + '.py')} defines no {HANDLER_ATTRIBUTE}") from None


def from_folder(folder: Path) -> ServerSpec:
    """A server folder given by hand, declared from what it holds: named after the folder (``hello_world`` ->
    ``hello-world``), with the database, sign-in and tasks its handler uses (or its migrations imply)."""
    folder = folder.resolve()
    guess = ServerSpec(folder.name.replace("_", "-").lower(), folder)
    guess.check_folder()
    found = handler_needs(import_handler(guess))
    if guess.migration_dirs:
        found["database"] = True
    return ServerSpec(guess.name, folder, **found)


def handler_needs(handler: Any) -> dict[str, bool]:
    """What an imported handler of this runtime needs: the database, sign-in, tasks."""
    from mcp_lambda.database import database_lifespan
    from mcp_lambda.tasks import Tasks

    mcp = getattr(handler, "server", None)
    if mcp is None:
        return {"database": False, "sign_in": False, "tasks": False}  # a handler of its own making
    return {
        "database": mcp.settings.lifespan is database_lifespan,
        "sign_in": getattr(handler, "access", None) is not None,
        "tasks": Tasks.of(mcp) is not None,
    }


def from_module(path: Path) -> tuple[ServerSpec, ...]:
    """The `SERVERS` of a declarations module (a `.py` file), imported with its folder on `sys.path`."""
    path = path.resolve()
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    if module_spec is None or module_spec.loader is None:
        raise SpecError(f"{path} is not a Python module")
    module = sys.modules.get(path.stem)
    if module is None or getattr(module, "__file__", None) != str(path):
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    servers = getattr(module, DECLARATIONS_NAME, None)
    if not servers or not all(isinstance(s, ServerSpec) for s in servers):
        raise SpecError(f"{path} must define {DECLARATIONS_NAME}: a sequence of mcp_lambda.spec.ServerSpec")
    return tuple(servers)


def load(targets: Sequence[str | Path], cwd: Path | None = None) -> tuple[ServerSpec, ...]:
    """The servers named by `targets` (server folders or declaration modules), or, with none, those of
    `mcp_servers.py` in `cwd`."""
    cwd = cwd or Path.cwd()
    if not targets:
        default = cwd / DECLARATIONS_FILE
        if not default.is_file():
            raise SpecError(
                f"nothing to serve: give a server folder (mcp-lambda serve hello) or declare servers in "
                f"{DECLARATIONS_FILE} ({DECLARATIONS_NAME} = (ServerSpec(...), ...))"
            )
        targets = [default]
    servers: list[ServerSpec] = []
    for target in map(Path, targets):
        if target.is_dir():
            servers.append(from_folder(target))
        elif target.suffix == ".py" and target.is_file():
            servers.extend(from_module(target))
        else:
            raise SpecError(f"{target}: not a server folder (with {SERVER_MODULE}.py) nor a declarations module")
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        raise SpecError(f"two servers share a name: {sorted(n for n in names if names.count(n) > 1)}")
    for server in servers:
        server.check_folder()
    return tuple(servers)


def check_against_handler(server: ServerSpec, handler: Any) -> None:
    """Raise SpecError where a declaration and its imported handler disagree: the CDK app would deploy a
    server that differs from the one served here (no database where the lifespan opens one, sign-in
    declared but no access policy, ...)."""
    found = handler_needs(handler)
    declared = {"database": server.database, "sign_in": server.sign_in, "tasks": server.tasks}
    # A declared database the handler does not open with database_lifespan may be opened another way.
    wrong = [key for key in found if found[key] != declared[key] and (key != "database" or found[key])]
    if wrong:
        details = ", ".join(f"{key}={found[key]}" for key in wrong)
        raise SpecError(f"the {server.name} server's handler ({server.handler}) has {details}, unlike its "
                        "declaration: declare it so, or the deployed server would differ")
    _check_task_placements(server, handler)


def _check_task_placements(server: ServerSpec, handler: Any) -> None:
    """A placement holding task tools runs their tasks, which on AWS needs the task table its declaration
    grants (`ToolPlacement(tasks=True)`); one without any has no use for the table."""
    from mcp_lambda.tasks import Tasks

    tasks = Tasks.of(handler.server) if server.placements and getattr(handler, "server", None) is not None else None
    task_tools = tasks.task_tools if tasks is not None else frozenset()
    for placement in server.placements:
        holds = sorted(task_tools & set(placement.tools))
        if bool(holds) != placement.tasks:
            found = f"holds the task tools {', '.join(holds)}" if holds else "holds no task tool"
            raise SpecError(f"the {server.name} server's placement {placement.name} {found}: declare it "
                            f"ToolPlacement(..., tasks={bool(holds)})")
