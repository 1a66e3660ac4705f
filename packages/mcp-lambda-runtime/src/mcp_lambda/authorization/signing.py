"""Signing the authorization server's access tokens: with a KMS asymmetric key when deployed, a PEM key locally.

Deployed, the private key never leaves KMS: the function holds only the key's id and kms:Sign permission, so
a leaked environment or a compromised dependency cannot mint tokens after the fact, and rotating the key is
creating another KMS key. Locally (and in tests) a PEM key stands in, behind the same `Signer` interface.

Each key is named by its RFC 7638 JWK thumbprint (`kid`): derived from the public key alone, so the kid is
the same in every execution environment and at every cold start without being stored anywhere, and a new
key gets a new kid by construction. Resource servers find the key by that kid in the published JWKS.

IAM (deployed): kms:GetPublicKey (once, when the signer is made) and kms:Sign on the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

MIN_RSA_BITS = 2048
"""RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used" with RS256."""

KMS_MAX_RAW_MESSAGE = 4096
"""KMS Sign accepts at most 4096 bytes with MessageType RAW (larger would need DIGEST)."""

_P256_COORDINATE_BYTES = 32

# KeySpec -> (JWS alg, KMS SigningAlgorithm). RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3),
# ES256 is ECDSA on P-256 with SHA-256 (§3.4); no other KMS key spec has a JWS algorithm every resource
# server accepts.
_KMS_KEY_SPECS = {
    "RSA_2048": ("RS256", "RSASSA_PKCS1_V1_5_SHA_256"),
    "RSA_3072": ("RS256", "RSASSA_PKCS1_V1_5_SHA_256"),
    "RSA_4096": ("RS256", "RSASSA_PKCS1_V1_5_SHA_256"),
    "ECC_NIST_P256": ("ES256", "ECDSA_SHA_256"),
}


class Signer(Protocol):
    """A private key that signs JWS: its JWS algorithm, its key id, and its public half as a JWK."""

    alg: str
    """"RS256" or "ES256"."""
    kid: str
    """The RFC 7638 thumbprint (SHA-256, base64url) of the public key."""

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of `signing_input` (for ES256 the raw 64-byte r||s of RFC 7518 §3.4, not DER)."""
        ...

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK, with "kid", "alg" and "use": "sig", for the JWKS."""
        ...


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int, length: int | None = None) -> str:
    """An unsigned integer as base64url of its big-endian bytes (RFC 7518 §6.3.1: minimal; §6.2.1.2: fixed)."""
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def _public_members(public_key: Any) -> tuple[str, dict[str, str]]:
    """The JWS alg and the required JWK members (RFC 7638 §3.2) of an RSA or P-256 public key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"an RSA key of {public_key.key_size} bits is too small for RS256 (at least {MIN_RSA_BITS})")
        numbers = public_key.public_numbers()
        return "RS256", {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise ValueError(f"an EC key on {public_key.curve.name} cannot sign ES256 (P-256 only)")
        numbers = public_key.public_numbers()
        return "ES256", {"crv": "P-256", "kty": "EC", "x": _uint(numbers.x, _P256_COORDINATE_BYTES),
                         "y": _uint(numbers.y, _P256_COORDINATE_BYTES)}
    raise ValueError(f"unsupported key type {type(public_key).__name__}: RSA (>= {MIN_RSA_BITS} bits) or EC P-256 only")


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members, lexicographically ordered, without whitespace."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _raw_ecdsa(der: bytes) -> bytes:
    """KMS and cryptography give ECDSA signatures DER-encoded; JWS wants r||s, each 32 bytes (RFC 7518 §3.4)."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(_P256_COORDINATE_BYTES, "big")


class _PublicKeySigner:
    """What both signers derive from the public key: alg, kid, the JWK."""

    alg: str
    kid: str
    _members: dict[str, str]

    def _init_public(self, public_key: Any) -> None:
        self.alg, self._members = _public_members(public_key)
        self.kid = thumbprint(self._members)

    def public_jwk(self) -> dict[str, Any]:
        return {**self._members, "kid": self.kid, "alg": self.alg, "use": "sig"}


class PemSigner(_PublicKeySigner):
    """A private key in process memory: the local server and tests, where there is no KMS."""

    def __init__(self, private_key: Any) -> None:
        if not isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ValueError(f"unsupported private key {type(private_key).__name__}: RSA or EC P-256 only")
        self._init_public(private_key.public_key())
        self._private_key = private_key

    @classmethod
    def from_pem(cls, pem: bytes | str) -> PemSigner:
        """A signer from an unencrypted PEM private key (PKCS#8 or traditional)."""
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        return cls(serialization.load_pem_private_key(data, password=None))

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "ES256":
            return _raw_ecdsa(self._private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return self._private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def _kms_client() -> Any:
    """A KMS client that fails fast: a token endpoint waiting on a stalled connection holds the client's request
    (and the Lambda's concurrency) for botocore's default 60 s read timeout, times its retries."""
    import boto3  # in the Lambda runtime; loaded only where tokens are signed with KMS
    from botocore.config import Config

    return boto3.client("kms", config=Config(connect_timeout=2, read_timeout=5,
                                             retries={"total_max_attempts": 3, "mode": "standard"}))


class KmsSigner(_PublicKeySigner):
    """An asymmetric KMS key (KeyUsage SIGN_VERIFY): RSA_2048/3072/4096 sign RS256, ECC_NIST_P256 signs ES256.

    The public key is read once, when the signer is made (at cold start): kid and JWKS then cost no call.
    """

    def __init__(self, key_id: str, *, client: Any = None) -> None:
        self.key_id = key_id
        self._client = client if client is not None else _kms_client()
        try:
            response = self._client.get_public_key(KeyId=key_id)
        except self._client.exceptions.UnsupportedOperationException as exc:
            # What KMS answers for a symmetric (or HMAC) key, which has no public half.
            raise ValueError(f"KMS key {key_id} has no public key: an asymmetric SIGN_VERIFY key is needed") from exc
        # KeySpec; CustomerMasterKeySpec is its deprecated twin, the only one moto returns.
        spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
        usage = response.get("KeyUsage")
        if usage != "SIGN_VERIFY":
            raise ValueError(f"KMS key {key_id} has KeyUsage {usage} (KeySpec {spec}): it must be SIGN_VERIFY")
        if spec not in _KMS_KEY_SPECS:
            raise ValueError(f"KMS key {key_id} has KeySpec {spec}: one of {', '.join(_KMS_KEY_SPECS)} is needed")
        expected_alg, self._signing_algorithm = _KMS_KEY_SPECS[spec]
        self._init_public(serialization.load_der_public_key(response["PublicKey"]))
        if self.alg != expected_alg:
            raise ValueError(f"KMS key {key_id}: its public key does not match its KeySpec {spec}")

    def sign(self, signing_input: bytes) -> bytes:
        if len(signing_input) > KMS_MAX_RAW_MESSAGE:
            raise ValueError(f"a JWS signing input of {len(signing_input)} bytes exceeds KMS's limit of "
                             f"{KMS_MAX_RAW_MESSAGE} bytes for a RAW message")
        signature = self._client.sign(KeyId=self.key_id, Message=signing_input, MessageType="RAW",
                                      SigningAlgorithm=self._signing_algorithm)["Signature"]
        return _raw_ecdsa(signature) if self.alg == "ES256" else signature


def sign_jwt(signer: Signer, claims: dict[str, Any], *, typ: str) -> str:
    """Compact JWS: header {"alg", "kid", "typ"} + claims, base64url without padding, signed by `signer`."""
    # Assembled by hand: no JWT library signs through KMS (they all want the private key in process), and the
    # assembly is five lines of RFC 7515 §7.1. Verification is left to pyjwt, on the resource servers.
    header = {"alg": signer.alg, "kid": signer.kid, "typ": typ}
    encoded = [b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)]
    signing_input = ".".join(encoded).encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url(signer.sign(signing_input))}"


def jwks(*signers: Signer) -> dict[str, Any]:
    """The JWK Set to publish: every key a token in circulation may be signed with (current and previous)."""
    return {"keys": [signer.public_jwk() for signer in signers]}
