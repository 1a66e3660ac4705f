"""Requests signed with AWS Signature Version 4, for servers behind `AWS_IAM` Function URLs or IAM-authorized
API Gateway methods.

The signing is botocore's (`botocore.auth.SigV4Auth`), with credentials from botocore's standard chain
(environment, shared config and credentials files with profiles, SSO, web identity, container and instance
roles). Credentials that expire (SSO, assumed roles) are refreshed by botocore when they near expiry; as that
can mean a network call, they are fetched in a worker thread, never on the event loop.

Only what no intermediary changes is signed: the host, the content type, the MCP headers and the body (by its
SHA-256 in the canonical request). Hop-by-hop and transport headers (`connection`, `accept-encoding`,
`user-agent`) are left out, as AWS's own SDKs leave them out, so a proxy or load balancer on the way cannot
break the signature. Requests to any other origin (there should be none) are sent unsigned.

botocore is imported when a signer is made: the proxy starts without it when --sigv4 is not asked for.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx2

#: Function URLs sign for `lambda`; API Gateway (REST and HTTP APIs, and their custom domains) for `execute-api`.
FUNCTION_URL_SERVICE, API_GATEWAY_SERVICE = "lambda", "execute-api"
_FUNCTION_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$")
_API_GATEWAY_HOST = re.compile(r"^[a-z0-9-]+\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOCAL_REGION = "us-east-1"
#: Headers signed besides `host` and the `x-amz-*` headers the signature adds.
_SIGNED_HEADERS = ("content-type",)
_SIGNED_PREFIX = "mcp-"


class CredentialsError(Exception):
    """No usable AWS credentials: none in the chain, an unknown profile, an expired SSO session, a failed refresh."""


@dataclass(frozen=True)
class SigningTarget:
    """What a request to the server is signed for."""

    service: str
    region: str


def infer_target(url: str, *, region: str | None = None, service: str | None = None,
                 default_region: Callable[[], str | None] = lambda: None) -> SigningTarget:
    """The service and region to sign for: given ones first, else read from a Function URL or API Gateway
    host; a loopback URL is a local Function URL in any region. Any other host (a custom domain) needs a region and signs
    for API Gateway unless told otherwise. Raises ValueError when no region can be found."""
    host = (urlsplit(url).hostname or "").lower()
    inferred_service, inferred_region = API_GATEWAY_SERVICE, None
    if match := _FUNCTION_URL_HOST.match(host):
        inferred_service, inferred_region = FUNCTION_URL_SERVICE, match.group(1)
    elif match := _API_GATEWAY_HOST.match(host):
        inferred_region = match.group(1)
    elif host in _LOOPBACK:
        # The local server (`mcp-lambda serve --sigv4`) plays a Function URL and accepts any region.
        inferred_service, inferred_region = FUNCTION_URL_SERVICE, default_region() or LOCAL_REGION
    chosen_region = region or inferred_region or default_region()
    if not chosen_region:
        raise ValueError(f"cannot tell the AWS region of {host}: give --region (or set one in the AWS profile)")
    return SigningTarget(service or inferred_service, chosen_region)


def credential_source(profile: str | None) -> tuple[Any, str | None]:
    """botocore's credentials for `profile` (None: the default chain) and the profile's region.

    Raises CredentialsError when the chain has none, naming what was looked for."""
    import botocore.exceptions
    import botocore.session

    where = f"profile {profile!r}" if profile else "the default AWS credential chain"
    try:
        session = botocore.session.Session(profile=profile)
        credentials = session.get_credentials()
        region = session.get_config_variable("region")
    except botocore.exceptions.BotoCoreError as exc:
        raise CredentialsError(f"AWS credentials from {where}: {exc}") from exc
    if credentials is None:
        raise CredentialsError(
            f"no AWS credentials in {where} (set AWS_PROFILE or --profile, run `aws sso login`, or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    return credentials, region


class SigV4Auth(httpx2.Auth):
    """Signs each request to `url`'s origin for `target` with the current `credentials` (botocore's).

    Asynchronous clients only: the credentials are fetched in a worker thread."""

    requires_request_body = True  # the body's hash is part of the signature

    def __init__(self, url: str, target: SigningTarget, credentials: Any, *, description: str = "AWS credentials") -> None:
        from botocore.auth import SigV4Auth as BotocoreSigV4

        self._signer_class = BotocoreSigV4
        self._origin = origin(url)
        self.target = target
        self._credentials = credentials
        self._description = description

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        await request.aread()
        if origin(str(request.url)) == self._origin:
            frozen = await anyio.to_thread.run_sync(self._frozen_credentials)
            self.sign(request, frozen)
        yield request

    def _frozen_credentials(self) -> Any:
        # RefreshableCredentials refresh here when they near expiry (SSO, assumed roles, container roles).
        try:
            return self._credentials.get_frozen_credentials()
        except Exception as exc:  # botocore raises many kinds (SSO token expired, STS refused, ...)
            raise CredentialsError(f"{self._description}: {' '.join(str(exc).split()) or type(exc).__name__}") from exc

    def sign(self, request: httpx2.Request, frozen: Any) -> None:
        """Add `Authorization`, `X-Amz-Date` and (with temporary credentials) `X-Amz-Security-Token`."""
        from botocore.awsrequest import AWSRequest

        for name in ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"):
            request.headers.pop(name, None)
        signed = {"host": request.headers["host"]}
        for name, value in request.headers.items():
            name = name.lower()
            if name in _SIGNED_HEADERS or name.startswith(_SIGNED_PREFIX):
                signed[name] = value
        aws_request = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=signed)
        self._signer_class(frozen, self.target.service, self.target.region).add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of `url`, the default port made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port
