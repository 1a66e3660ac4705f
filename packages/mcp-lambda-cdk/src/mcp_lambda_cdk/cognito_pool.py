"""The Cognito user pool ``McpOidcAuth(create_user_pool=True)`` defines, with its hosted domain, app client,
resource server, groups and access-token trigger (what each is for, and why: ``McpOidcAuth``'s docstring).

The resources are defined in the sign-in construct's own scope, so their logical ids are those of its
first releases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mcp_lambda_cdk.policy import allow_cloudwatch_logs

#: Loopback ports registered as the created app client's callbacks (``http://127.0.0.1:<port>/callback``).
DEFAULT_CALLBACK_PORTS = (8976, 8977, 8978, 8979, 8980)

#: The path of the proxy CLI's sign-in redirect on the loopback interface.
CALLBACK_PATH = "/callback"

# Cognito access tokens carry no email; the servers store the author's verified email, so a pre token
# generation trigger (V2, for access tokens) copies it in. Users without a verified email get none.
_ACCESS_TOKEN_EMAIL_HANDLER = '''\
def handler(event, context):
    """Add the user's verified email to the access token: MCP servers read `email` from it."""
    attributes = event["request"].get("userAttributes") or {}
    if attributes.get("email") and attributes.get("email_verified") == "true":
        event["response"]["claimsAndScopeOverrideDetails"] = {
            "accessTokenGeneration": {
                "claimsToAddOrOverride": {"email": attributes["email"], "email_verified": True},
            },
        }
    return event
'''


@dataclass
class CognitoSignIn:
    """What ``define_user_pool`` defined."""

    user_pool: cognito.UserPool
    client: cognito.UserPoolClient
    domain: cognito.UserPoolDomain
    resource_server: cognito.UserPoolResourceServer | None = None
    groups: list[cognito.UserPoolGroup] = field(default_factory=list)
    pre_token_generation: lambda_.Function | None = None
    machine_clients: dict[str, cognito.UserPoolClient] = field(default_factory=dict)


def define_user_pool(
    self: Construct,
    *,
    scopes: list[str],
    domain_prefix: str | None,
    callback_urls: list[str],
    resource_server_identifier: str,
    threat_protection: bool,
    email_in_access_token: bool,
    removal_policy: RemovalPolicy,
    machine_clients: Mapping[str, Sequence[str]],
) -> CognitoSignIn:
    """The user pool, its trigger, hosted domain, resource server, groups, app client and machine clients, in
    ``self``."""
    pre_token_generation: lambda_.Function | None = None
    pool = cognito.UserPool(
        self,
        "UserPool",
        self_sign_up_enabled=False,
        sign_in_aliases=cognito.SignInAliases(email=True),
        sign_in_case_sensitive=False,
        auto_verify=cognito.AutoVerifiedAttrs(email=True),
        keep_original=cognito.KeepOriginalAttrs(email=True),
        standard_attributes=cognito.StandardAttributes(
        email=cognito.StandardAttribute(required=True, mutable=True)
        ),
        # Administrators create the users; each sets up an authenticator app at first sign-in.
        mfa=cognito.Mfa.REQUIRED,
        mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
        password_policy=cognito.PasswordPolicy(
        min_length=12,
        require_lowercase=True,
        require_uppercase=True,
        require_digits=True,
        require_symbols=True,
        temp_password_validity=Duration.days(3),
        ),
        account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
        feature_plan=cognito.FeaturePlan.PLUS if threat_protection else cognito.FeaturePlan.ESSENTIALS,
        standard_threat_protection_mode=(
        cognito.StandardThreatProtectionMode.FULL_FUNCTION if threat_protection else None
        ),
        deletion_protection=removal_policy != RemovalPolicy.DESTROY,
        removal_policy=removal_policy,
    )
    
    if email_in_access_token:
        # Like every service function: its own key for its logs, a role that writes only its log group.
        trigger_key = kms.Key(self, "AccessTokenEmailKey", enable_key_rotation=True,
                  description="Encrypts the logs of the Cognito access-token trigger",
                  # Kept with a kept pool (its logs may outlive the stack), destroyed with a destroyed one.
                  removal_policy=RemovalPolicy.DESTROY if removal_policy == RemovalPolicy.DESTROY
                  else RemovalPolicy.RETAIN)
        allow_cloudwatch_logs(self, trigger_key)
        trigger_logs = logs.LogGroup(
        self,
        "AccessTokenEmailLogGroup",
        retention=logs.RetentionDays.ONE_MONTH,
        encryption_key=trigger_key,
        removal_policy=RemovalPolicy.DESTROY,
        )
        trigger_role = iam.Role(self, "AccessTokenEmailRole",
                    assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description="Cognito access-token trigger: writes its own logs, nothing else")
        trigger_logs.grant_write(trigger_role)
        pre_token_generation = lambda_.Function(
        self,
        "AccessTokenEmail",
        description="Adds the user's verified email to Cognito access tokens for MCP servers",
        code=lambda_.Code.from_inline(_ACCESS_TOKEN_EMAIL_HANDLER),
        handler="index.handler",
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        memory_size=128,
        timeout=Duration.seconds(5),
        role=trigger_role,
        log_group=trigger_logs,
        )
        pool.add_trigger(
        cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
        pre_token_generation,
        cognito.LambdaVersion.V2_0,
        )

    domain = pool.add_domain(
        "Domain",
        cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix or _default_domain_prefix(self)),
    )

    oauth_scopes = [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE]
    resource_server = None
    groups: list[cognito.UserPoolGroup] = []
    if scopes:
        server_scopes = [
        cognito.ResourceServerScope(scope_name=s, scope_description=f"MCP tools that need {s}")
        for s in scopes
        ]
        resource_server = pool.add_resource_server(
        "ResourceServer", identifier=resource_server_identifier, scopes=server_scopes
        )
        oauth_scopes += [cognito.OAuthScope.resource_server(resource_server, s) for s in server_scopes]
        groups = [
        pool.add_group(f"Group-{s}", group_name=s, description=f"Members are granted {s} by MCP servers")
        for s in scopes
        ]

    client = pool.add_client(
        "ProxyClient",
        generate_secret=False,  # a public client: the proxy CLI cannot keep a secret; PKCE stands in
        auth_flows=cognito.AuthFlow(user_srp=True),
        o_auth=cognito.OAuthSettings(
        flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
        scopes=oauth_scopes,
        callback_urls=callback_urls,
        ),
        supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        access_token_validity=Duration.hours(1),
        id_token_validity=Duration.hours(1),
        refresh_token_validity=Duration.days(30),
    )
    machines = {
        name: _machine_client(pool, name, [cognito.OAuthScope.resource_server(resource_server, s)
                                           for s in server_scopes if s.scope_name in granted])
        for name, granted in machine_clients.items()
    } if resource_server is not None else {}
    return CognitoSignIn(pool, client, domain, resource_server, groups, pre_token_generation, machines)


def _machine_client(pool: cognito.UserPool, name: str, scopes: list[cognito.OAuthScope]) -> cognito.UserPoolClient:
    """A headless client (a scheduled job, a CI pipeline, another service): the client-credentials grant, so
    no person and no browser; it authenticates with its secret, which Cognito generates and
    ``aws cognito-idp describe-user-pool-client`` shows, and gets exactly ``scopes``. Its access tokens carry
    no email: tools see the client (``sub`` and ``client_id`` are its id) as the caller."""
    return pool.add_client(
        f"MachineClient-{name}",
        user_pool_client_name=name,
        generate_secret=True,  # client credentials: the secret is the only proof of who is calling
        auth_flows=cognito.AuthFlow(user_srp=False, custom=False, user_password=False, admin_user_password=False),
        o_auth=cognito.OAuthSettings(flows=cognito.OAuthFlows(client_credentials=True), scopes=scopes),
        supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        prevent_user_existence_errors=True,
        enable_token_revocation=True,
        access_token_validity=Duration.hours(1),
    )


def _default_domain_prefix(scope: Construct) -> str:
    # Unique per account (the prefix namespace is per region, shared by all accounts) and per construct.
    return Fn.join("-", ["mcp", Aws.ACCOUNT_ID, scope.node.addr[-8:]])
