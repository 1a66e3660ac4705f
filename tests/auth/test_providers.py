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


def test_google_id_token_with_verified_email_in_an_allowed_domain(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT], allowed_domains=["company.com"])
    caller = check.validate(issuer.mint("ann@company.com", iss=GOOGLE, audience=CLIENT, hd="company.com"))
    assert caller.email == "ann@company.com" and caller.issuer == GOOGLE
    assert reason(check, issuer.mint("ann@company.com", iss=GOOGLE, audience=CLIENT, email_verified=False)) == \
        "email_not_verified"
    assert reason(check, issuer.mint("ann@gmail.com", iss=GOOGLE, audience=CLIENT)) == "domain_not_allowed"
    assert reason(check, issuer.mint("x@company.com", iss=GOOGLE, audience=CLIENT, hd="other.com")) == \
        "domain_not_allowed", "the hosted-domain claim wins over the email's domain"
    assert reason(check, issuer.mint("ann@company.com", iss=GOOGLE, audience="another-client")) == "wrong_audience"


def test_google_always_requires_a_verified_email(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT])
    assert check.validate(issuer.mint("bo@gmail.com", iss=GOOGLE, audience=CLIENT)).email == "bo@gmail.com"
    assert reason(check, issuer.mint("bo@gmail.com", iss=GOOGLE, audience=CLIENT, email_verified=None)) == \
        "email_not_verified"


def test_cognito_access_tokens_of_a_configured_app_client(issuer):
    check = validator(issuer, issuer=COGNITO, audiences=["app-client-1"])
    access = issuer.mint("cy@company.com", iss=COGNITO, audience=None, token_use="access",
                         client_id="app-client-1", scopes=(), **{"cognito:groups": ["writers"]})
    caller = check.validate(access)
    assert caller.client_id == "app-client-1" and "writers" in caller.scopes
    id_token = issuer.mint("cy@company.com", iss=COGNITO, audience="app-client-1", token_use="id")
    assert reason(check, id_token) == "wrong_token_use"
    other = issuer.mint("cy@company.com", iss=COGNITO, audience=None, token_use="access", client_id="app-client-2")
    assert reason(check, other) == "wrong_audience"


def test_issuers_are_matched_exactly(issuer):
    check = validator(issuer, issuer=issuer.issuer, audiences=["c"])
    assert check.validate(issuer.mint(audience="c")).issuer == issuer.issuer
    assert reason(check, issuer.mint(audience="c", iss=issuer.issuer + "/")) == "unknown_issuer"
    assert reason(check, issuer.mint(audience="c", iss=issuer.issuer.upper())) == "unknown_issuer"


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
    ('{"providers": [{"issuer": "https://x", "audiences": "a"}]}', "list of strings"),
])
def test_bad_configuration_fails_at_start_with_a_clear_message(raw, message):
    with pytest.raises(AuthConfigError, match=message):
        AuthConfig.from_json(raw)


def test_provider_grants_give_scopes_to_verified_accounts(issuer):
    check = validator(issuer, issuer=GOOGLE, audiences=[CLIENT], allowed_domains=["company.com"],
                      grants=["messages:write"])
    caller = check.validate(issuer.mint("ann@company.com", iss=GOOGLE, audience=CLIENT, scopes=()))
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
