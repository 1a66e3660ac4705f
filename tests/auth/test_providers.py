"""Each issuer's own rules (Google ID tokens, Cognito access tokens), with real keys over loopback JWKS."""

from __future__ import annotations

import json

import pytest

from mcp_lambda.auth.config import AuthConfig, AuthConfigError
from mcp_lambda.auth.tokens import AuthFailure, TokenValidator

GOOGLE = "https://accounts.google.com"
COGNITO = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT = "1234-abc.apps.googleusercontent.com"


def validator(test_issuer, **provider) -> TokenValidator:
    config = {"resource": "https://mcp.example/mcp",
              "providers": [{"jwks_uri": f"{test_issuer.issuer}/jwks.json", **provider}]}
    return TokenValidator(AuthConfig.from_json(json.dumps(config)))


def reason(check, token) -> str:
    with pytest.raises(AuthFailure) as failure:
        check.validate(token)
    return failure.value.reason


ID_TOKEN = {"typ": "JWT"}  # what OpenID Connect ID tokens carry (Google's, Cognito's): not at+jwt


def google_id_token(issuer, email: str, **claims):
    return issuer.mint(email, iss=GOOGLE, headers=ID_TOKEN, **{"audience": CLIENT, **claims})


def test_google_id_token_with_verified_email_in_an_allowed_domain(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT], allowed_domains=["company.com"], id_tokens=True)
    caller = check.validate(google_id_token(issuer, "ann@company.com", hd="company.com"))
    assert caller.email == "ann@company.com" and caller.issuer == GOOGLE
    assert reason(check, google_id_token(issuer, "ann@company.com", email_verified=False)) == "email_not_verified"
    assert reason(check, google_id_token(issuer, "ann@gmail.com")) == "domain_not_allowed"
    assert reason(check, google_id_token(issuer, "x@company.com", hd="other.com")) == \
        "domain_not_allowed", "the hosted-domain claim wins over the email's domain"
    assert reason(check, google_id_token(issuer, "ann@company.com", audience="another-client")) == "wrong_audience"


def test_google_always_requires_a_verified_email(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT], id_tokens=True)
    assert check.validate(google_id_token(issuer, "bo@gmail.com")).email == "bo@gmail.com"
    assert reason(check, google_id_token(issuer, "bo@gmail.com", email_verified=None)) == "email_not_verified"


def test_google_tokens_naming_several_audiences_must_be_authorized_for_ours(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT], id_tokens=True)
    both = [CLIENT, "other-client"]
    assert check.validate(google_id_token(issuer, "bo@gmail.com", audience=both, azp=CLIENT)).email
    assert reason(check, google_id_token(issuer, "bo@gmail.com", audience=both, azp="other-client")) == \
        "wrong_audience"
    assert reason(check, google_id_token(issuer, "bo@gmail.com", audience=both)) == "wrong_audience"


def test_cognito_access_tokens_of_a_configured_app_client(issuer):
    check = validator(issuer, issuer=COGNITO, audiences=["app-client-1"])
    access = issuer.mint("cy@company.com", iss=COGNITO, audience=None, token_use="access",
                         client_id="app-client-1", scopes=(), **{"cognito:groups": ["writers"]})
    caller = check.validate(access)
    assert caller.client_id == "app-client-1" and "writers" in caller.scopes
    id_token = issuer.mint("cy@company.com", iss=COGNITO, audience="app-client-1", token_use="id", headers=ID_TOKEN)
    assert reason(check, id_token) == "wrong_token_type"
    other = issuer.mint("cy@company.com", iss=COGNITO, audience=None, token_use="access", client_id="app-client-2")
    assert reason(check, other) == "wrong_audience"


def test_issuers_are_matched_exactly(issuer):
    check = validator(issuer, issuer=issuer.issuer, audiences=["c"])
    assert check.validate(issuer.mint(audience="c")).issuer == issuer.issuer
    assert reason(check, issuer.mint(audience="c", iss=issuer.issuer + "/")) == "unknown_issuer"
    assert reason(check, issuer.mint(audience="c", iss=issuer.issuer.upper())) == "unknown_issuer"


def test_an_issuer_configured_with_a_trailing_slash_keeps_it(issuer):
    """Auth0-style identifiers end in "/": compared exactly, never stripped (RFC 8414, OIDC Discovery)."""
    slashed = issuer.issuer + "/"
    check = validator(issuer, issuer=slashed, audiences=["c"])
    assert check.validate(issuer.mint(audience="c", iss=slashed)).issuer == slashed
    assert reason(check, issuer.mint(audience="c")) == "unknown_issuer"


def test_a_discovery_document_naming_another_issuer_is_not_trusted(issuer):
    # The dev issuer's document names its identifier without the "/": not the configured one
    config = {"providers": [{"issuer": issuer.issuer + "/", "audiences": ["c"]}]}
    check = TokenValidator(AuthConfig.from_json(json.dumps(config)))
    assert reason(check, issuer.mint(audience="c", iss=issuer.issuer + "/")) == "keys_unavailable"


def test_rsa_keys_shorter_than_2048_bits_are_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa

    from mcp_lambda.local.oidc_issuer import serve_issuer

    with serve_issuer() as weak:
        weak.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        check = validator(weak, issuer=weak.issuer, audiences=["c"])
        assert reason(check, weak.mint(audience="c")) == "weak_key"
        assert check.validate(weak.mint(audience="c", algorithm="ES256")).subject, "its P-256 key still counts"


def test_discovery_finds_the_jwks(issuer):
    config = {"providers": [{"issuer": issuer.issuer, "audiences": ["c"]}]}
    check = TokenValidator(AuthConfig.from_json(json.dumps(config)))
    assert check.validate(issuer.mint(audience="c")).subject == "dev|alice@company.com"
    assert "/.well-known/openid-configuration" in issuer.requests


@pytest.mark.parametrize("raw, message", [
    ("not json", "not JSON"),
    ('{"providers": []}', "non-empty"),
    ('{"providers": [{"audiences": ["a"]}]}', "issuer"),
    ('{"providers": [{"issuer": "https://accounts.google.com"}]}', "client id"),
    ('{"providers": [{"issuer": "https://accounts.google.com", "audiences": ["a"]}]}', "id_tokens"),
    ('{"providers": [{"issuer": "https://x", "audiences": ["a"], "id_tokens": "yes"}]}', "true or false"),
    ('{"providers": [{"issuer": "https://x", "audiences": ["a"], "access_token_typ": "JWT"}]}', "list of strings"),
    ('{"providers": [{"issuer": "https://x", "audiences": "a"}]}', "list of strings"),
])
def test_bad_configuration_fails_at_start_with_a_clear_message(raw, message):
    with pytest.raises(AuthConfigError, match=message):
        AuthConfig.from_json(raw)


def test_provider_grants_give_scopes_to_verified_accounts(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT], allowed_domains=["company.com"],
                      grants=["messages:write"], id_tokens=True)
    caller = check.validate(google_id_token(issuer, "ann@company.com", scopes=()))
    assert "messages:write" in caller.scopes


def test_cognito_resource_server_scopes_count_without_their_prefix(issuer):
    check = validator(issuer, issuer=COGNITO, audiences=["app-client-1"])
    token = issuer.mint("cy@company.com", iss=COGNITO, audience=None, token_use="access", client_id="app-client-1",
                        scopes=("openid", "mcp/messages:write"))
    assert {"mcp/messages:write", "messages:write", "openid"} <= check.validate(token).scopes


def test_the_derived_resource_is_an_accepted_audience(issuer):
    config = {"providers": [{"issuer": issuer.issuer, "audiences": ["c"]}]}
    check = TokenValidator(AuthConfig.from_json(json.dumps(config)))
    token = issuer.mint(audience="https://abc.lambda-url.eu-west-1.on.aws/mcp")
    assert check.validate(token, "https://abc.lambda-url.eu-west-1.on.aws/mcp").subject
    assert reason(check, token) == "wrong_audience"


def test_cognito_client_credentials_tokens_act_for_the_machine_client(issuer):
    """A headless client (a Cognito app client with a secret, client_credentials grant): an access token with
    no person behind it, so no email, the app client as subject, its resource-server scopes."""
    check = validator(issuer, issuer=COGNITO, audiences=["app-client-1", "machine-client"])
    token = issuer.mint(None, iss=COGNITO, audience=None, token_use="access", client_id="machine-client",
                        sub="machine-client", scopes=("mcp/messages:write",))
    caller = check.validate(token)
    assert caller.email is None and caller.subject == "machine-client" and caller.client_id == "machine-client"
    assert "messages:write" in caller.scopes
    unlisted = issuer.mint(None, iss=COGNITO, audience=None, token_use="access", client_id="another-machine",
                           sub="another-machine", scopes=("mcp/messages:write",))
    assert reason(check, unlisted) == "wrong_audience", "only app clients the deployment names"
