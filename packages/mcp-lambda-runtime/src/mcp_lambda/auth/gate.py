"""The sign-in gate in front of the SDK: 401/403 before any tool body runs, RFC 9728 metadata.

- A request carrying a bearer token has it validated, whatever it asks for: a bad token is 401
  `error="invalid_token"` (RFC 6750 §3.1).
- A request that needs sign-in and carries no token is 401 with the `resource_metadata` URL
  (MCP authorization, RFC 9728 §5.1) and no error code, as RFC 6750 §3.1 asks.
- A signed-in caller without a required scope is 403 `error="insufficient_scope"` naming the scopes.
- Every rejection is one structured `AUTH_FAILURE` log line with a reason code and the issuer, never the
  token. The metadata URL is also put in the JSON-RPC error's `data`, because API Gateway REST APIs rename
  `WWW-Authenticate` to `x-amzn-Remapped-WWW-Authenticate` on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.shared.auth import ProtectedResourceMetadata
from mcp_types import INVALID_REQUEST
from pydantic import AnyHttpUrl

from mcp_lambda import contract as c
from mcp_lambda.asgi import Dispatch
from mcp_lambda.auth.config import AuthConfig
from mcp_lambda.auth.policy import Access, Policy
from mcp_lambda.auth.tokens import AuthFailure, Caller, TokenValidator
from mcp_lambda.envelope import request_id as valid_id
from mcp_lambda.events import HttpRequest, HttpResponse, jsonrpc_error
from mcp_lambda.observability import logger

WELL_KNOWN = c.PROTECTED_RESOURCE_WELL_KNOWN
UNAUTHORIZED = -32001  # the code MCP SDKs use for an authentication error in a JSON-RPC body


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known suffix goes between the host and the resource's path (the SDK's rule)."""
    return str(build_resource_metadata_url(AnyHttpUrl(resource)))


@dataclass(slots=True)
class Decision:
    """The outcome for one request: a refusal to send, and why (the AUTH_FAILURE reason code), or the caller to
    run it as (None: anonymous)."""

    refusal: HttpResponse | None = None
    caller: Caller | None = None
    reason: str | None = None


class AuthGate:
    def __init__(self, access: Access, config: AuthConfig, server_name: str) -> None:
        self.access = access.with_config_scopes(config.tool_scopes)
        self.config = config
        self.server_name = server_name
        self.validator = TokenValidator(config)

    def resource(self, request: HttpRequest, mcp_path: str) -> str:
        return self.config.resource or f"https://{request.domain_name}{mcp_path}"

    def is_metadata_request(self, request: HttpRequest) -> bool:
        return request.path == WELL_KNOWN or request.path.startswith(WELL_KNOWN + "/")

    def metadata(self, request: HttpRequest, mcp_path: str) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return jsonrpc_error(405, INVALID_REQUEST, "Method Not Allowed", headers=(("allow", "GET"),))
        document = ProtectedResourceMetadata(
            resource=self.resource(request, mcp_path),
            authorization_servers=[p.issuer for p in self.config.providers],
            scopes_supported=self.access.scopes_supported(),
            bearer_methods_supported=["header"],
            resource_name=self.server_name,
        )
        return HttpResponse(200, [("content-type", "application/json"), ("cache-control", "max-age=300")],
                            document.model_dump_json(exclude_none=True).encode())

    def decide(self, request: HttpRequest, messages: list[Any], mcp_path: str) -> Decision:
        resource = self.resource(request, mcp_path)
        request_id = valid_id(messages[0]) if len(messages) == 1 else None
        policies = [self.access.for_message(m) for m in messages]
        tools = [m["params"].get("name") for m in messages if _is_tool_call(m)]
        authorizations = [value for name, value in request.headers if name == "authorization"]
        if len(authorizations) > 1:
            # Which one would count is the server's guess (RFC 6750 §3.1: a request with more than one way
            # of passing a token is malformed), so none does.
            self._log("duplicate_authorization", None, request, tools)
            return Decision(self._bad_request(resource, request_id, "more than one Authorization header"),
                            reason="duplicate_authorization")
        authorization = authorizations[0] if authorizations else None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token.strip():
                    raise AuthFailure("malformed", "the Authorization header must be 'Bearer <token>'")
                caller = self.validator.validate(token.strip(), resource)
            except AuthFailure as failure:
                self._log(failure.reason, failure.issuer, request, tools)
                return Decision(self._unauthorized(resource, request_id, failure.detail, invalid=True),
                                reason=failure.reason)
        else:
            caller = None
        needs = [p for p in policies if not p.public]
        if not needs:
            return Decision(caller=caller)
        if caller is None:
            self._log("missing_token", None, request, tools)
            return Decision(self._unauthorized(resource, request_id, "sign-in required", invalid=False,
                                              policies=needs), reason="missing_token")
        missing = sorted({scope for policy in needs for scope in policy.missing(caller.scopes)})
        if missing:
            self._log("insufficient_scope", caller.issuer, request, tools)
            return Decision(self._forbidden(resource, request_id, missing), reason="insufficient_scope")
        return Decision(caller=caller)

    def admit(self, dispatch: Dispatch, decision: Decision, mcp_path: str) -> Dispatch:
        """`dispatch` as the SDK should see it after `decision` let it through: the verified caller where
        the SDK looks for one, and the access policy for `tools/list`."""
        user = None
        if decision.caller is not None:
            request = dispatch.request
            token = (request.header("authorization") or "").partition(" ")[2].strip()
            user = authenticated_user(decision.caller, self.resource(request, mcp_path), token)
        return replace(dispatch, user=user, access=self.access)

    def _unauthorized(self, resource: str, request_id: Any, detail: str, *, invalid: bool,
                      policies: list[Policy] | None = None) -> HttpResponse:
        params = [f'resource_metadata="{metadata_url(resource)}"']
        if invalid:
            params += ['error="invalid_token"', f'error_description="{_quote(detail)}"']
        scopes = sorted({s for p in policies or () for s in p.scopes})
        if scopes:
            params.append(f'scope="{" ".join(scopes)}"')
        return self._error(401, request_id, f"Unauthorized: {detail}", "Bearer " + ", ".join(params), resource,
                           "invalid_token" if invalid else None)

    def _bad_request(self, resource: str, request_id: Any, detail: str) -> HttpResponse:
        header = (f'Bearer error="invalid_request", error_description="{_quote(detail)}", '
                  f'resource_metadata="{metadata_url(resource)}"')
        return self._error(400, request_id, f"Invalid Request: {detail}", header, resource, "invalid_request")

    def _forbidden(self, resource: str, request_id: Any, missing: list[str]) -> HttpResponse:
        scope = " ".join(missing)
        header = (f'Bearer error="insufficient_scope", scope="{scope}", '
                  f'resource_metadata="{metadata_url(resource)}"')
        return self._error(403, request_id, f"Forbidden: requires scope {scope}", header, resource,
                           "insufficient_scope")

    def _error(self, status: int, request_id: Any, message: str, challenge: str, resource: str,
               error: str | None) -> HttpResponse:
        return jsonrpc_error(
            status, UNAUTHORIZED if status == 401 else INVALID_REQUEST, message, request_id=request_id,
            data={"resource_metadata": metadata_url(resource), **({"error": error} if error else {})},
            headers=(("www-authenticate", challenge),),
        )

    def _log(self, reason: str, issuer: str | None, request: HttpRequest, tools: list[Any]) -> None:
        logger.warning(c.AUTH_FAILURE, reason=reason, issuer=issuer, tools=[str(t) for t in tools],
                       source_ip=request.source_ip)


def _is_tool_call(message: Any) -> bool:
    return isinstance(message, dict) and message.get("method") == "tools/call" and isinstance(
        message.get("params"), dict)


def _quote(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def authenticated_user(caller: Caller, resource: str, token: str) -> AuthenticatedUser:
    """The SDK's view of the caller (`get_access_token()`, request-state principal binding)."""
    exp = caller.claims.get("exp")
    return AuthenticatedUser(AccessToken(
        token=token,
        client_id=caller.client_id,
        scopes=sorted(caller.scopes),
        expires_at=int(exp) if isinstance(exp, (int, float)) else None,
        resource=resource,
        subject=caller.subject,
        claims=caller.claims,
    ))
