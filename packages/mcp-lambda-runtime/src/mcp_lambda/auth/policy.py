"""Who may call what: each tool is public, needs sign-in, or needs given scopes or groups.

The server's code states the policy (`Access`); the deployment may add scopes per tool through
`MCP_AUTH_CONFIG`'s `tool_scopes`. Reading resources and prompts follows the default policy.

Sign-in is discovered at connect: a server whose policy protects anything answers an anonymous
`initialize`, `server/discover`, `tools/list`, `ping` (every method but a call of a public tool) with the
401 challenge. Desktop clients start sign-in on that 401, and many start it nowhere else: they call only
tools they have seen listed, and meet no 401 afterwards if the anonymous listing hid or did not mark the
protected ones. A server may instead open discovery to anonymous callers (`anonymous_browsing=True`); its
anonymous `tools/list` then shows the protected tools marked as needing sign-in, and calling one answers
the challenge, which suits clients that sign in mid-session (the SDK's, this project's proxy) but leaves
clients that sign in only at connect unable to call them. Public tools are callable without a token
either way (a script, a health check).
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
    """A server's access policy: per tool, and a default for tools and data not named.

    :param default: the policy of tools not named in `tools`, and of resources, prompts and completions.
        Default: ``SIGNED_IN``.
    :param tools: the policy of each named tool. Default: none (every tool follows `default`).
    :param anonymous_browsing: anonymous callers may discover the server (initialize, list tools, ...) and see
        the protected tools marked as needing sign-in, instead of being challenged at connect. Default: False.
    """

    default: Policy = SIGNED_IN
    tools: Mapping[str, Policy] = field(default_factory=dict)
    anonymous_browsing: bool = False

    def with_config_scopes(self, tool_scopes: Mapping[str, Iterable[str]]) -> Access:
        """The deployment's extra scopes (MCP_AUTH_CONFIG `tool_scopes`) added to the code's policy."""
        tools = dict(self.tools)
        for name, scopes in tool_scopes.items():
            base = tools.get(name, self.default)
            tools[name] = Policy(scopes=tuple(dict.fromkeys((*base.scopes, *scopes))))
        return Access(default=self.default, tools=tools, anonymous_browsing=self.anonymous_browsing)

    @property
    def protects_anything(self) -> bool:
        return not all(policy.public for policy in (self.default, *self.tools.values()))

    @property
    def discovery(self) -> Policy:
        """What discovering the server (every method but tools/call and data) needs: sign-in, when the
        policy protects anything and anonymous browsing is off."""
        return SIGNED_IN if self.protects_anything and not self.anonymous_browsing else PUBLIC

    def for_tool(self, name: object) -> Policy:
        return self.tools.get(name, self.default) if isinstance(name, str) else self.default

    def for_message(self, message: object) -> Policy:
        """The policy a JSON-RPC message needs: its tool's, the default for data, `discovery` for any other
        request or notification; PUBLIC for anything not understood (the SDK answers malformed messages)
        and for responses."""
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            return PUBLIC
        method = message["method"]
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "tools/call":
            return self.for_tool(params.get("name"))
        if method in _DATA_METHODS:
            return self.default
        return self.discovery

    def scopes_supported(self) -> list[str]:
        found = {s for p in (self.default, *self.tools.values()) for s in p.scopes}
        return sorted(found)
