"""The secure messaging stack (Case 3): sign-in configuration (the authorization server first, then the created
pool), a public URL, egress for the issuers' keys, both packages in the bundle, no circular dependency, and one
snapshot."""

from __future__ import annotations


import pytest
from aws_cdk.assertions import Match, Template

from mcp_lambda_cdk import McpOidcAuthOptions, McpServerStack
from mcp_lambda_cdk.bundling import PythonBundle
from mcp_servers import SECURE_MESSAGING
from tests.cdk.conftest import without_migrations_hash
from tests.cdk.test_oidc_auth import GOOGLE_CLIENT, auth_config, dependency_cycle

HANDLER = "secure_messaging.server.handler"


@pytest.fixture(scope="module")
def stack(make_app) -> McpServerStack:
    # Given the app as cdk.json configures it and no context, when the stack is synthesized
    return McpServerStack(make_app(), "McpSecureMessagingStack", server=SECURE_MESSAGING)


@pytest.fixture(scope="module")
def template(stack: McpServerStack) -> Template:
    return Template.from_stack(stack)


def logical_id(stack: McpServerStack, construct) -> str:
    return stack.get_logical_id(construct.node.default_child)


def test_template_matches_snapshot(template: Template, snapshot_json) -> None:
    # The migrations hash is asserted by the messaging stack's tests; here it would churn the snapshot.
    assert without_migrations_hash(template) == snapshot_json


def test_without_context_the_authorization_server_comes_first_then_the_created_user_pool(
    stack: McpServerStack, template: Template
) -> None:
    # Clients take the first authorization server of the RFC 9728 metadata: this app's own, which registers them;
    # the pool's own tokens (its proxy client) keep working after it.
    pool, client = logical_id(stack, stack.auth.user_pool), logical_id(stack, stack.auth.user_pool_client)
    issuer = f"https://<Host:<GetAtt:{logical_id(stack, stack.authorization_server.function_url)}.FunctionUrl>>"
    assert auth_config(template, HANDLER) == {
        "providers": [
            {"issuer": issuer, "audiences": [], "jwks_uri": f"{issuer}/jwks.json"},
            {"issuer": f"https://<GetAtt:{pool}.ProviderURL>", "audiences": [f"<Ref:{client}>"]},
        ]
    }


def test_the_authorization_server_fronts_the_created_pool_for_this_server(
    stack: McpServerStack, template: Template
) -> None:
    authorization = stack.authorization_server
    assert authorization is not None and stack.service.auth is authorization
    assert authorization.user_pool_domain is stack.auth.user_pool_domain, "the pool's one domain, not a second"
    assert [rule.to_config() for rule in authorization.scope_rules] == [
        {"scope": "messages:write", "groups": ["messages:write"]}]
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {
        "UserPoolId": {"Ref": logical_id(stack, stack.auth.user_pool)},
        "GenerateSecret": True,
        "CallbackURLs": [{"Fn::Join": ["", ["https://", Match.any_value(), "/callback"]]}],
    })
    outputs = template.to_json()["Outputs"]
    (url,) = (name for name in outputs if name.startswith("AuthorizationServerUrl"))
    assert outputs[url]["Value"] == {"Fn::Join": ["", ["https://", {"Fn::Select": [2, {"Fn::Split": [
        "/", {"Fn::GetAtt": [logical_id(stack, authorization.function_url), "FunctionUrl"]}]}]}]]}


def test_context_adds_google_with_allowed_domains(make_app) -> None:
    # Given the context of `cdk synth -c googleClientId=... -c allowedDomains=company.com,example.org`
    app = make_app(googleClientId=GOOGLE_CLIENT, allowedDomains="company.com, example.org")
    stack = McpServerStack(app, "WithGoogle", server=SECURE_MESSAGING)

    # Then after the authorization server comes Google, restricted to those domains whose accounts may post, and
    # the pool is still trusted
    providers = auth_config(Template.from_stack(stack), HANDLER)["providers"]
    assert providers[0]["issuer"] == "https://<Host:<GetAtt:AuthorizationServerAliasFunctionUrl0398F5DA.FunctionUrl>>"
    assert providers[1] == {
        "issuer": "https://accounts.google.com",
        "audiences": [GOOGLE_CLIENT],
        "allowed_domains": ["company.com", "example.org"],
        "grants": ["messages:write"],
        "id_tokens": True,
    }
    assert providers[2]["issuer"].startswith("https://<GetAtt:")
    assert len(providers) == 3


def test_google_only_without_a_user_pool(make_app) -> None:
    stack = McpServerStack(make_app(), "GoogleOnly", server=SECURE_MESSAGING,
                           auth=McpOidcAuthOptions(google_client_id=GOOGLE_CLIENT))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    assert [p["issuer"] for p in auth_config(template, HANDLER)["providers"]] == ["https://accounts.google.com"]
    # Nothing for an authorization server to front: Google gives it no client without registering one by hand
    assert stack.authorization_server is None
    template.resource_count_is("AWS::SSM::Parameter", 0)


def test_the_url_is_public_because_the_server_checks_bearer_tokens(
    stack: McpServerStack, template: Template
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Url",
        {"AuthType": "NONE", "Qualifier": "live",
         "TargetFunctionArn": {"Fn::GetAtt": [logical_id(stack, stack.service.function), "Arn"]}},
    )
    # The other URL is the authorization server's (public too: people's browsers sign in there)
    template.resource_count_is("AWS::Lambda::Url", 2)


def test_the_function_reaches_the_database_and_the_internet_for_the_issuers_keys(
    stack: McpServerStack, template: Template
) -> None:
    db = stack.database
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    application = [{"Ref": logical_id(stack, s)} for s in db.vpc.private_subnets]
    assert len(application) == 2
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": HANDLER,
            "VpcConfig": Match.object_like({"SubnetIds": application}),
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "MCP_DB_HOST": {"Fn::GetAtt": [logical_id(stack, db.proxy), "Endpoint"]},
                        "MCP_DB_IAM_AUTH": "true",
                        "MCP_AUTH_CONFIG": Match.any_value(),
                    }
                )
            },
        },
    )
    # The database tier keeps no route out
    for subnet in db.vpc.isolated_subnets:
        assert subnet.node.id.startswith("Database")


def test_messaging_migrations_and_its_own_user_come_before_the_alias_moves(
    stack: McpServerStack, template: Template
) -> None:
    resources = template.find_resources("Custom::McpSchemaMigrations", {"Properties": {"Service": "messaging"}})
    (migrations_id,) = resources
    (user_id,) = template.find_resources("Custom::McpDatabaseUser", {"Properties": {
        "User": "mcp_secure_messaging", "Grants": {"messages": ["SELECT", "INSERT"]}}})
    alias = template.find_resources("AWS::Lambda::Alias")[stack.get_logical_id(stack.service.alias.node.default_child)]
    assert {migrations_id, user_id} <= set(alias["DependsOn"])


def test_sign_in_failures_are_counted_alarmed_and_queryable(stack: McpServerStack, template: Template) -> None:
    log_group = {"Ref": logical_id(stack, stack.service.log_group)}
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {"FilterPattern": '{ $.message = "AUTH_FAILURE" }', "LogGroupName": log_group},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "AuthFailures",
            "Namespace": "McpServers",
            "Dimensions": [{"Name": "service", "Value": "secure-messaging"}],
            "Threshold": 20,
            "Period": 300,
        },
    )
    template.has_resource_properties(
        "AWS::Logs::QueryDefinition",
        {
            "Name": "McpSecureMessagingStack/secure-messaging/auth-failures",
            "LogGroupNames": [log_group],
            "QueryString": Match.string_like_regexp(r"AUTH_FAILURE[\s\S]*bin\(5m\), reason, issuer"),
        },
    )


def test_the_proxy_client_uses_the_code_flow_and_offers_messages_write(
    stack: McpServerStack, template: Template
) -> None:
    server = logical_id(stack, stack.auth.resource_server)
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": Match.array_with([{"Fn::Join": ["", [{"Ref": server}, "/messages:write"]]}]),
            "CallbackURLs": Match.array_with(["http://127.0.0.1:8976/callback"]),
        },
    )
    template.has_resource_properties("AWS::Cognito::UserPoolGroup", {"GroupName": "messages:write"})
    outputs = template.to_json()["Outputs"]
    for name in ("UserPoolIssuer", "UserPoolClientId", "UserPoolId", "SignInDomain"):
        assert name in outputs


def test_no_circular_dependency(template: Template) -> None:
    assert dependency_cycle(template.to_json()) is None


def test_the_bundle_ships_the_server_and_the_messaging_package_it_imports() -> None:
    bundle = PythonBundle(SECURE_MESSAGING.folder)
    assert bundle.packages == ("secure_messaging", "messaging")
    files = {path.as_posix() for path in bundle.source_files()}
    assert {"secure_messaging/server.py", "messaging/store.py", "messaging/migrations/001_messages.sql"} <= files
    assert not any(path.startswith(("weather/", "conformance/", "reports/")) for path in files)


@pytest.mark.parametrize("how", ["context", "prop"])
def test_a_development_deployment_leaves_nothing_behind_on_destroy(make_app, how: str) -> None:
    """`-c development=true` (or the prop): nothing in the template outlives `cdk destroy` (no retained or
    snapshotted resource, no deletion protection), while the default deployment keeps its data."""
    if how == "context":
        stack = McpServerStack(make_app(development="true"), "McpSecureMessagingStack", server=SECURE_MESSAGING)
    else:
        stack = McpServerStack(make_app(), "McpSecureMessagingStack", server=SECURE_MESSAGING, development=True)
    resources = Template.from_stack(stack).to_json()["Resources"]
    kept = {name: r.get("DeletionPolicy") for name, r in resources.items()
            if r.get("DeletionPolicy", "Delete") != "Delete" or r.get("UpdateReplacePolicy", "Delete") != "Delete"}
    assert kept == {}
    protected = [name for name, r in resources.items()
                 if r.get("Properties", {}).get("DeletionProtection") in (True, "ACTIVE")]
    assert protected == []
    [instance] = [r for r in resources.values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert instance["Properties"]["MultiAZ"] is False


def test_the_default_deployment_keeps_its_data(template: Template) -> None:
    template.has_resource("AWS::RDS::DBInstance", {"DeletionPolicy": "Snapshot",
                                                   "Properties": Match.object_like({"DeletionProtection": True})})
    template.has_resource("AWS::Cognito::UserPool", {"DeletionPolicy": "Retain"})
