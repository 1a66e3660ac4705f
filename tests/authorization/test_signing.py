"""Access tokens signed by a PEM key or a KMS key (moto) verify with pyjwt against the published JWK alone.

pyjwt stands in for a resource server: it gets nothing but the token and the JWKS, as one would. The kid is
checked against joserfc's RFC 7638 thumbprint, an implementation independent of ours.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey
from moto import mock_aws

from mcp_lambda.authorization.signing import KmsSigner, PemSigner, Signer, jwks, sign_jwt, thumbprint


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "https://auth.example.com", "sub": "user-1", "aud": "https://mcp.example.com/mcp",
            "iat": now, "exp": now + 300, "scope": "mcp:tools", "name": "Zoë ☃"}


def header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verify(token: str, published: dict[str, Any]) -> dict[str, Any]:
    """What a resource server does: pick the key by kid from the JWKS, verify with the key's own alg."""
    (jwk,) = [key for key in published["keys"] if key["kid"] == jwt.get_unverified_header(token)["kid"]]
    key = jwt.PyJWK(jwk)
    return jwt.decode(token, key, algorithms=[jwk["alg"]], audience="https://mcp.example.com/mcp",
                      issuer="https://auth.example.com")


def check_signer(signer: Signer, alg: str) -> None:
    token = sign_jwt(signer, claims(), typ="at+jwt")
    assert header(token) == {"alg": alg, "kid": signer.kid, "typ": "at+jwt"}
    published = jwks(signer)
    assert verify(token, published)["name"] == "Zoë ☃"
    jwk = published["keys"][0]
    assert jwk["kid"] == signer.kid and jwk["alg"] == alg and jwk["use"] == "sig"
    assert "d" not in jwk, "the public half only"
    # Tampering with the claims breaks the signature.
    head, body, signature = token.split(".")
    forged = json.dumps({**claims(), "sub": "admin"}, separators=(",", ":")).encode()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{head}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}", published)


def test_rsa_pem_tokens_verify_with_the_published_jwk() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = PemSigner(key)
    assert signer.alg == "RS256"
    check_signer(signer, "RS256")
    assert signer.kid == RSAKey.import_key(key.public_key()).thumbprint()


def test_ec_pem_tokens_verify_with_the_published_jwk() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signer = PemSigner.from_pem(pem)
    assert signer.alg == "ES256"
    check_signer(signer, "ES256")
    assert len(signer.sign(b"x.y")) == 64, "raw r||s, not DER"
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert signer.kid == ECKey.import_key(public_pem).thumbprint()


def test_the_thumbprint_of_rfc_7638s_example_key() -> None:
    """RFC 7638 §3.1's own example key and its published thumbprint."""
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
         "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn"
         "1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    assert thumbprint({"e": "AQAB", "kty": "RSA", "n": n}) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_keys_that_cannot_sign_rs256_or_es256_are_refused() -> None:
    with pytest.raises(ValueError, match="1024 bits"):
        PemSigner(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ValueError, match="secp384r1"):
        PemSigner(ec.generate_private_key(ec.SECP384R1()))


def test_jwks_lists_every_signer() -> None:
    first, second = PemSigner(ec.generate_private_key(ec.SECP256R1())), PemSigner(ec.generate_private_key(ec.SECP256R1()))
    assert [key["kid"] for key in jwks(first, second)["keys"]] == [first.kid, second.kid]
    assert first.kid != second.kid


# -- KMS (moto) ----------------------------------------------------------------------------------------------


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


@pytest.mark.parametrize(("spec", "alg"), [("RSA_2048", "RS256"), ("ECC_NIST_P256", "ES256")])
def test_kms_tokens_verify_with_the_jwk_of_the_kms_public_key(kms: Any, spec: str, alg: str) -> None:
    key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = KmsSigner(key_id, client=kms)
    assert signer.alg == alg
    check_signer(signer, alg)
    # The JWK built independently from GetPublicKey's DER verifies the token too, and has the same thumbprint.
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    independent = (RSAKey if spec.startswith("RSA") else ECKey).import_key(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert independent.thumbprint() == signer.kid
    token = sign_jwt(signer, claims(), typ="at+jwt")
    assert verify(token, {"keys": [{**independent.as_dict(private=False), "kid": signer.kid, "alg": alg}]})["sub"] == "user-1"


def test_kms_client_is_made_from_the_environment(kms: Any) -> None:
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = KmsSigner(key_id)
    check_signer(signer, "ES256")
    config = signer._client.meta.config
    assert config.connect_timeout <= 5 and config.read_timeout <= 10 and config.retries["total_max_attempts"] <= 3


@pytest.mark.parametrize(("spec", "usage", "named"), [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "ENCRYPT_DECRYPT", "ENCRYPT_DECRYPT"),
    ("ECC_NIST_P384", "SIGN_VERIFY", "ECC_NIST_P384"),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "ECC_SECG_P256K1"),
])
def test_kms_keys_that_cannot_sign_access_tokens_are_refused(kms: Any, spec: str, usage: str, named: str) -> None:
    key_id = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    with pytest.raises(ValueError, match=named):
        KmsSigner(key_id, client=kms)


def test_kms_refuses_a_signing_input_over_its_raw_limit(kms: Any) -> None:
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = KmsSigner(key_id, client=kms)
    with pytest.raises(ValueError, match="4096"):
        sign_jwt(signer, {"padding": "x" * 4000}, typ="at+jwt")


def test_kms_refusing_get_public_key_for_a_symmetric_key_is_a_clear_error() -> None:
    """Real KMS answers GetPublicKey on a symmetric key with UnsupportedOperationException (moto returns a made-up
    RSA public key instead, with KeyUsage ENCRYPT_DECRYPT, which the test above covers)."""
    client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_public_key", service_error_code="UnsupportedOperationException",
                                 service_message="KeyUsage ENCRYPT_DECRYPT is not supported")
        with pytest.raises(ValueError, match="no public key"):
            KmsSigner("alias/tokens", client=client)
