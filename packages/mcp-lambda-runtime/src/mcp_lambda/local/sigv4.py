"""An `AWS_IAM` Function URL, locally: requests must carry a SigV4 signature made with known credentials.

A deployed server that is neither public nor signs callers in sits behind a Function URL with auth type
`AWS_IAM`: Lambda checks the caller's SigV4 signature before the function runs, answers 403 `Forbidden` when
it does not hold, and hands the caller's identity to the function as `requestContext.authorizer.iam`. With
`mcp-lambda serve --sigv4` the local server does the same for such servers, verifying signatures made with
the credentials of the local AWS credential chain (the developer's own) or, in tests, of known keys, so a
client that signs (the proxy's `--sigv4`) can be tried without AWS.

The signature is recomputed with botocore's SigV4 signer over exactly the headers the request says it
signed, and compared in constant time. The rules AWS applies before that are checked first: the
`AWS4-HMAC-SHA256` algorithm, a credential scope for this service ending in `aws4_request` whose date is the
request's, `host` and `x-amz-date` among the signed headers, a request date within 5 minutes of now, the
session token of temporary credentials, and a declared payload hash that is the body's.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: How far a request's X-Amz-Date may be from now (AWS refuses older or newer signatures).
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
#: Local identities: the account id of the local Function URL's callers.
LOCAL_ACCOUNT = "000000000000"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused; the client sees only Lambda's 403 `Forbidden`, the log says why."""

    reason: str


def forbidden() -> tuple[int, list[tuple[str, str]], bytes]:
    """What a Function URL answers a request whose signature does not hold."""
    return 403, [("content-type", "application/json"), ("x-amzn-errortype", "AccessDeniedException")], b'{"Message":"Forbidden"}'


class SigV4Verifier:
    """Verifies SigV4-signed requests made with one of `credentials` (botocore credential objects, refreshed
    when they expire) for `service` (and `region`, when given).

    :param credentials: botocore ``Credentials`` (or anything with ``get_frozen_credentials()``).
    :param service: the service signed for: ``lambda``, as for a Function URL.
    :param region: the only region accepted; None accepts any (the local server has no region).
    """

    def __init__(self, credentials: Sequence[Any], *, service: str = "lambda", region: str | None = None) -> None:
        from botocore.auth import SigV4Auth

        class _ExactlySigned(SigV4Auth):
            # botocore leaves some headers out when it signs (user-agent, ...); a verifier must take the
            # request's own list of signed headers, whatever it holds.
            def __init__(self, credentials: Any, service: str, region: str, signed: list[str]) -> None:
                super().__init__(credentials, service, region)
                self._signed = signed

            def headers_to_sign(self, request: Any) -> Any:
                from botocore.awsrequest import HTTPHeaders

                headers = HTTPHeaders()
                for name in self._signed:
                    headers[name] = request.headers[name]
                return headers

        self._signer = _ExactlySigned
        self._credentials = list(credentials)
        self.service = service
        self.region = region

    def verify(self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], body: bytes,
               *, now: datetime.datetime | None = None) -> dict[str, Any] | Refusal:
        """The caller's `requestContext.authorizer.iam` block when the signature holds, else a Refusal."""
        from botocore.awsrequest import AWSRequest

        values: dict[str, list[str]] = {}
        for name, value in headers:
            values.setdefault(name.lower(), []).append(value)
        authorization = values.get("authorization", [])
        if len(authorization) != 1:
            return Refusal("no Authorization header" if not authorization else "more than one Authorization header")
        match = _AUTHORIZATION.match(authorization[0].strip())
        if not match:
            return Refusal("the Authorization header is not an AWS4-HMAC-SHA256 signature")
        scope = match["credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            return Refusal("the credential scope is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
        access_key, scope_date, region, service = scope[:4]
        if service != self.service or (self.region is not None and region != self.region):
            return Refusal(f"signed for {service} in {region}, not {self.service} in {self.region or 'any region'}")
        frozen = self._frozen(access_key)
        if frozen is None:
            return Refusal(f"unknown access key {access_key}")
        amz_date = values.get("x-amz-date", [""])
        try:
            signed_at = datetime.datetime.strptime(amz_date[0], _AMZ_DATE).replace(tzinfo=datetime.UTC)
        except ValueError:
            return Refusal("no valid X-Amz-Date header")
        if len(amz_date) != 1 or scope_date != amz_date[0][:8]:
            return Refusal("the credential scope's date is not the X-Amz-Date")
        if abs((now or datetime.datetime.now(datetime.UTC)) - signed_at) > MAX_CLOCK_SKEW:
            return Refusal("signature expired: X-Amz-Date is more than 5 minutes from now")
        signed = match["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed or signed != sorted(set(signed)):
            return Refusal("SignedHeaders must be sorted, unique and name host and x-amz-date")
        if any(len(values.get(name, ())) != 1 for name in signed):
            return Refusal("a signed header is missing or repeated")
        if frozen.token and values.get("x-amz-security-token") != [frozen.token]:
            return Refusal("temporary credentials without their session token")
        declared = values.get("x-amz-content-sha256")
        if declared is not None and declared != [hashlib.sha256(body).hexdigest()]:
            return Refusal("X-Amz-Content-SHA256 is not the hash of the body")

        url = f"https://{values['host'][0]}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, data=body, headers={name: values[name][0] for name in signed})
        request.context["timestamp"] = amz_date[0]
        signer = self._signer(frozen, service, region, signed)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected, match["signature"]):
            return Refusal("the signature does not match the request (wrong secret key, or the request was changed)")
        return {
            "accessKey": access_key,
            "accountId": LOCAL_ACCOUNT,
            "callerId": access_key,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local",
            "userId": access_key,
        }

    def _frozen(self, access_key: str) -> Any:
        for credentials in self._credentials:
            frozen = credentials.get_frozen_credentials()
            if hmac.compare_digest(frozen.access_key, access_key):
                return frozen
        return None


def local_verifier(profile: str | None = None) -> SigV4Verifier:
    """A verifier for the credentials of the local AWS chain (`profile`, else the default): the developer's
    own, as the proxy finds them. Raises ValueError when there are none."""
    import botocore.session

    credentials = botocore.session.Session(profile=profile).get_credentials()
    if credentials is None:
        raise ValueError("--sigv4 verifies signatures made with your AWS credentials, and none were found "
                         "(set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    return SigV4Verifier([credentials])
