"""What a person granted a client, and the codes and tokens that carry it.

- An authorization code is stored by its SHA-256 for 5 minutes and taken atomically when redeemed, so two
  concurrent redemptions cannot both succeed. A redeemed code leaves a note: presented again, it revokes the
  refresh-token family issued from it (RFC 6749 §4.1.2: a code used twice is a stolen one).
- Refresh tokens rotate (OAuth 2.1 §4.3.1): each belongs to a family (one sign-in of one client) whose record
  holds the hash of the one current token. Redeeming it swaps in the next (compare-and-swap on the record's
  version); presenting any other token of the family is reuse, and revokes the whole family.
- Access tokens are RFC 9068 JWTs (`typ` `at+jwt`) for exactly one resource (RFC 8707: `aud`), signed by
  the server's key (KMS on AWS); they are not stored, and live `access_token_lifetime` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, TokenMixin

from mcp_lambda.authorization.signing import Signer, sign_jwt
from mcp_lambda.authorization.store import Store
from mcp_lambda.authorization.upstream import Identity

CODE_TTL = 300
SPENT_CODE_TTL = 900  # a reused code is recognised for longer than it could ever be redeemed


@dataclass(frozen=True)
class Grant:
    """A person's grant to one client for one resource: the "user" Authlib hands to grants and generators."""

    identity: Identity
    client_id: str
    scope: str
    resource: str
    auth_time: int
    family: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"identity": self.identity.to_json(), "client_id": self.client_id, "scope": self.scope,
                "resource": self.resource, "auth_time": self.auth_time, "family": self.family}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Grant:
        return cls(identity=Identity.from_json(data["identity"]), client_id=data["client_id"], scope=data["scope"],
                   resource=data["resource"], auth_time=int(data["auth_time"]), family=data.get("family", ""))


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):
    grant: Grant
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope


@dataclass(frozen=True)
class RefreshToken(TokenMixin):
    grant: Grant
    version: int

    def check_client(self, client: Any) -> bool:
        return client.get_client_id() == self.grant.client_id

    def get_scope(self) -> str:
        return self.grant.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return False  # an expired family is gone from the store

    def is_revoked(self) -> bool:
        return False  # a revoked family is never returned


class Grants:
    """Codes and refresh-token families in the store."""

    def __init__(self, store: Store, *, refresh_token_lifetime: int, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.refresh_token_lifetime = refresh_token_lifetime
        self.clock = clock

    # -- authorization codes ---------------------------------------------------------------------------
    def save_code(self, code: str, grant: Grant, redirect_uri: str, code_challenge: str, method: str) -> None:
        self.store.put("code", _hash(code), {"grant": grant.to_json(), "redirect_uri": redirect_uri,
                                             "code_challenge": code_challenge, "method": method}, ttl=CODE_TTL)

    def redeem_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code's grant with a new refresh-token family, once; a second presentation revokes that family."""
        key = _hash(code)
        item = self.store.take("code", key)
        if item is None:
            spent = self.store.get("spent", key)
            if spent is not None:
                self.revoke_family(spent.item["family"])
            return None
        grant = Grant.from_json(item["grant"])
        if grant.client_id != client_id:
            return None
        grant = replace(grant, family=secrets.token_urlsafe(16))
        self.store.put("spent", key, {"family": grant.family}, ttl=SPENT_CODE_TTL)
        return AuthorizationCode(grant, item["redirect_uri"], item["code_challenge"], item["method"])

    # -- refresh-token families ------------------------------------------------------------------------
    def new_refresh_token(self, grant: Grant) -> str:
        return f"{grant.family}.{secrets.token_urlsafe(32)}"

    def start_family(self, grant: Grant, refresh_token: str) -> None:
        self.store.put("family", grant.family, {"grant": grant.to_json(), "current": _hash(refresh_token),
                                                "revoked": False}, ttl=self.refresh_token_lifetime)

    def find_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        """The current token of a live family; a stale token of the family revokes it (reuse detected)."""
        family, _, secret = refresh_token.partition(".")
        if not family or not secret:
            return None
        record = self.store.get("family", family)
        if record is None or record.item.get("revoked"):
            return None
        if not hmac.compare_digest(record.item["current"], _hash(refresh_token)):
            self.revoke_family(family)
            return None
        return RefreshToken(Grant.from_json(record.item["grant"]), record.version)

    def rotate(self, old: RefreshToken, new_refresh_token: str) -> bool:
        """Make `new_refresh_token` the family's current token, if `old` still was (False: someone else rotated
        first, a concurrent use of the same token, which counts as reuse)."""
        item = {"grant": old.grant.to_json(), "current": _hash(new_refresh_token), "revoked": False}
        if self.store.swap("family", old.grant.family, item, version=old.version, ttl=self.refresh_token_lifetime):
            return True
        self.revoke_family(old.grant.family)
        return False

    def revoke_family(self, family: str) -> None:
        """Revoke every refresh token of the family (the access tokens it gave expire on their own)."""
        for _ in range(3):  # a concurrent rotation may bump the version under us
            record = self.store.get("family", family)
            if record is None or record.item.get("revoked"):
                return
            if self.store.swap("family", family, {**record.item, "revoked": True}, version=record.version):
                return


class AccessTokens:
    """RFC 9068 access tokens signed by `signer`."""

    def __init__(self, issuer: str, signer: Signer, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer
        self.signer = signer
        self.lifetime = lifetime
        self.clock = clock

    def issue(self, grant: Grant, scope: str) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.identity.subject,
            "aud": grant.resource,
            "client_id": grant.client_id,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(16),
            "auth_time": grant.auth_time,
            "scope": scope,
        }
        if grant.identity.email and grant.identity.email_verified:
            claims.update(email=grant.identity.email, email_verified=True)
        if grant.identity.name:
            claims["name"] = grant.identity.name
        return sign_jwt(self.signer, claims, typ="at+jwt")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
