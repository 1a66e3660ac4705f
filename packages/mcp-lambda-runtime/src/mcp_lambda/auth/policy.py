"""Who may call what: each tool is public, needs sign-in, or needs given scopes or groups.

The server's code states the policy (`Access`); the deployment may add scopes per tool through
`MCP_AUTH_CONFIG`'s `tool_scopes`. Discovery (`initialize`, `server/discover`, `tools/list`, `ping`, ...)
stays open to anonymous callers, `tools/list` showing each caller only the tools it may call; reading
resources and prompts follows the default policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Policy:
    public: bool = False
    scopes: tuple[str, ...] = ()

    def allows(self, granted: frozenset[str] | None) -> bool:
        """`granted` is None for an anonymous caller, else the token's scopes and groups."""
        if self.public:
            return True
        return granted is not None and all(scope in granted for scope in self.scopes)

    def missing(self, granted: frozenset[str]) -> tuple[str, ...]:
        return tuple(scope for scope in self.scopes if scope not in granted)


PUBLIC = Policy(public=True)
SIGNED_IN = Policy()


def requires(*scopes: str) -> Policy:
    """Sign-in with every one of `scopes` (OAuth scopes or group names) granted."""
    return Policy(scopes=tuple(scopes))


# Methods that read or run something the policy protects; every other method is discovery or protocol.
_DATA_METHODS = ("resources/read", "prompts/get", "completion/complete")


@dataclass(frozen=True, slots=True)
class Access:
    """A server's access policy: per tool, and a default for tools and data not named."""

    default: Policy = SIGNED_IN
    tools: Mapping[str, Policy] = field(default_factory=dict)

    def with_config_scopes(self, tool_scopes: Mapping[str, Iterable[str]]) -> Access:
        """The deployment's extra scopes (MCP_AUTH_CONFIG `tool_scopes`) added to the code's policy."""
        tools = dict(self.tools)
        for name, scopes in tool_scopes.items():
            base = tools.get(name, self.default)
            tools[name] = Policy(scopes=tuple(dict.fromkeys((*base.scopes, *scopes))))
        return Access(default=self.default, tools=tools)

    def for_tool(self, name: object) -> Policy:
        return self.tools.get(name, self.default) if isinstance(name, str) else self.default

    def for_message(self, message: object) -> Policy:
        """The policy a JSON-RPC message needs (PUBLIC for discovery and anything not understood:
        the SDK then answers malformed messages itself)."""
        if not isinstance(message, dict):
            return PUBLIC
        method = message.get("method")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "tools/call":
            return self.for_tool(params.get("name"))
        if method in _DATA_METHODS:
            return self.default
        return PUBLIC

    def scopes_supported(self) -> list[str]:
        found = {s for p in (self.default, *self.tools.values()) for s in p.scopes}
        return sorted(found)
