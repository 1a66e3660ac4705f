"""Local stand-ins for what a synthesized function's environment refers to, and the rendering that resolves the
template's references to them.

A function's variables come from its template resource, where many are CloudFormation references (`Ref`,
`Fn::GetAtt`, joined, split and selected). Rendering one creates (once) a stand-in for each resource it names
and puts in what CloudFormation would: the stand-in's name, ARN or URL.

- `AWS::SecretsManager::Secret`: a secret in moto, its `SecretString` rendered or generated as
  `GenerateSecretString` says; `Ref` is its ARN.
- `AWS::KMS::Key`: a moto key of the template's `KeySpec` and `KeyUsage`; `Ref` is its id.
- `AWS::DynamoDB::Table`: a moto table with the template's keys and TTL; `Ref` is its name.
- `AWS::SSM::Parameter`: a moto parameter, its value rendered, made with the stack (functions read them by name).
- `AWS::Cognito::UserPool`: the development OIDC issuer (`mcp_lambda.local.oidc_issuer`) over HTTPS on loopback,
  the pool's confidential client registered with it; `ProviderURL` is `127.0.0.1:<port>` (the template puts
  `https://` before it, as before Cognito's).
- `AWS::Cognito::UserPoolClient`: an id (`Ref`) and a secret (`ClientSecret`) of its own.
- `AWS::Lambda::Url`: a Function URL host of its own; requests to the function carry it as their domain.
- `AWS::Lambda::Function`: its name (the template's, or one made as CloudFormation makes them).
- `AWS::Logs::LogGroup`: a name.

A reference to anything else fails, naming the type: a construct that starts handing its function something
new needs a stand-in here first. The functions reach moto through `AWS_ENDPOINT_URL` and Lambda's Invoke API
through `AWS_ENDPOINT_URL_LAMBDA`, and trust the issuer's test certificate through `SSL_CERT_FILE` (as Lambda's
runtime trusts Cognito's public one); `endpoint_variables` are those three.

The database is a substitution rather than a rendering: the RDS Proxy endpoint, its IAM authentication and
its secret have no local stand-in, and the runtime reads `DATABASE_URL` before any of them
(`mcp_lambda.database.DatabaseConfig.from_env`), so a function given `MCP_DB_HOST` gets the local PostgreSQL's
`DATABASE_URL` instead of its `MCP_DB_*` connection variables (the statement timeout stays).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import ssl
import string
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from mcp_lambda import contract as c
from mcp_lambda.local.oidc_issuer import DevIssuer, issuer_handler
from mcp_lambda.local.oidc_sign_in import RegisteredClient
from tests.authorization.https_documents import certificate
from tests.lambda_runtime.environment import ACCOUNT, REGION

#: The database connection variables `DATABASE_URL` replaces (mcp_lambda.database).
DATABASE_CONNECTION = (c.MCP_DB_HOST, c.MCP_DB_PORT, c.MCP_DB_NAME, c.MCP_DB_USER, c.MCP_DB_IAM_AUTH,
                       c.MCP_DB_SECRET_ARN, c.MCP_DB_TLS)


class NoStandIn(LookupError):
    """A reference to a resource the harness has no local stand-in for."""


class StandIns:
    """The stand-ins of one test session: moto for AWS APIs, HTTPS issuers for Cognito pools, names for the rest."""

    def __init__(self, moto_endpoint: str, lambda_endpoint: str, directory: Path) -> None:
        self.moto_endpoint = moto_endpoint
        self.lambda_endpoint = lambda_endpoint
        self.certificate, self._key = certificate()
        self.ca_file = directory / "stand-in-ca.pem"
        self.ca_file.write_text(self.certificate)
        self.ca_file.chmod(0o444)
        self._key_file = directory / "stand-in-key.pem"
        self._key_file.write_text(self._key)
        self._key_file.chmod(0o400)
        self._resolved: dict[tuple[str, str], dict[str, str]] = {}  # (stack, logical id) -> attribute -> value
        self._provisioned: set[str] = set()
        self.issuers: dict[tuple[str, str], DevIssuer] = {}
        self._servers: list[ThreadingHTTPServer] = []

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.moto_endpoint, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    @property
    def endpoint_variables(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.moto_endpoint, "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint,
                "SSL_CERT_FILE": str(self.ca_file)}

    def environment(self, stack: str, template: dict[str, Any], variables: dict[str, Any],
                    database_url: str | None = None) -> dict[str, str]:
        """A function's variables as Lambda would hand them over, its references resolved to stand-ins."""
        self.provision(stack, template)
        variables = dict(variables)
        if c.MCP_DB_HOST in variables:
            if database_url is None:
                raise ValueError("the function connects to a database: give a DATABASE_URL")
            for name in DATABASE_CONNECTION:
                variables.pop(name, None)
            variables[c.DATABASE_URL] = database_url
        return {name: self.render(stack, template, value) for name, value in variables.items()}

    def provision(self, stack: str, template: dict[str, Any]) -> None:
        """Make the stack's SSM parameters and named secrets, which functions read by name, not by reference."""
        if stack in self._provisioned:
            return
        self._provisioned.add(stack)
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::SSM::Parameter" or (
                    resource["Type"] == "AWS::SecretsManager::Secret" and "Name" in resource.get("Properties", {})):
                self._resolve(stack, template, logical_id)

    def render(self, stack: str, template: dict[str, Any], value: Any) -> str:
        rendered = self._evaluate(stack, template, value)
        if isinstance(rendered, list):
            raise ValueError(f"a list where a string belongs: {value!r}")
        return rendered

    def function_name(self, stack: str, template: dict[str, Any], logical_id: str) -> str:
        return self._resolve(stack, template, logical_id)["Ref"]

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # -- intrinsic functions --------------------------------------------------------------------------------------
    def _evaluate(self, stack: str, template: dict[str, Any], value: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list):
            return [self._evaluate(stack, template, item) for item in value]
        if not (isinstance(value, dict) and len(value) == 1):
            raise ValueError(f"not a CloudFormation value: {value!r}")
        (function, argument), = value.items()
        if function == "Ref":
            pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                      "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack}
            return pseudo[argument] if argument in pseudo else self._attribute(stack, template, argument, "Ref")
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._attribute(stack, template, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(self.render(stack, template, part) for part in parts)
        if function == "Fn::Split":
            separator, text = argument
            return self.render(stack, template, text).split(separator)
        if function == "Fn::Select":
            index, items = argument
            return self._evaluate(stack, template, items)[int(index)]
        raise ValueError(f"no rendering of {function}")

    def _attribute(self, stack: str, template: dict[str, Any], logical_id: str, attribute: str) -> str:
        values = self._resolve(stack, template, logical_id)
        if attribute not in values:
            kind = template["Resources"][logical_id]["Type"]
            raise NoStandIn(f"{stack}/{logical_id} ({kind}): no stand-in for its {attribute}")
        return values[attribute]

    # -- resources ------------------------------------------------------------------------------------------------
    def _resolve(self, stack: str, template: dict[str, Any], logical_id: str) -> dict[str, str]:
        key = (stack, logical_id)
        if key not in self._resolved:
            resource = template["Resources"][logical_id]
            make = _MAKERS.get(resource["Type"])
            if make is None:
                raise NoStandIn(f"{stack}/{logical_id}: no local stand-in for {resource['Type']}")
            self._resolved[key] = make(self, stack, template, logical_id, resource.get("Properties", {}))
        return self._resolved[key]

    def _secret(self, stack: str, template: dict[str, Any], logical_id: str,
                props: dict[str, Any]) -> dict[str, str]:
        if "SecretString" in props:
            value = self.render(stack, template, props["SecretString"])
        else:
            generate = props.get("GenerateSecretString", {})
            alphabet = string.ascii_letters + string.digits
            if not generate.get("ExcludePunctuation"):
                alphabet += "".join(ch for ch in string.punctuation if ch not in generate.get("ExcludeCharacters", ""))
            value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
            if "SecretStringTemplate" in generate:
                value = json.dumps({**json.loads(generate["SecretStringTemplate"]),
                                    generate["GenerateStringKey"]: value})
        name = props.get("Name") or f"{stack}-{logical_id}-{_suffix(stack, logical_id)}"
        arn = self.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
        return {"Ref": arn, "Id": arn}

    def _key(self, stack: str, template: dict[str, Any], logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        metadata = self.client("kms").create_key(KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                                                 KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"))["KeyMetadata"]
        return {"Ref": metadata["KeyId"], "KeyId": metadata["KeyId"], "Arn": metadata["Arn"]}

    def _table(self, stack: str, template: dict[str, Any], logical_id: str,
               props: dict[str, Any]) -> dict[str, str]:
        name = props.get("TableName") or f"{stack}-{logical_id}-{_suffix(stack, logical_id)}"
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                            KeySchema=props["KeySchema"],
                                            AttributeDefinitions=props["AttributeDefinitions"])["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        return {"Ref": name, "Arn": description["TableArn"]}

    def _parameter(self, stack: str, template: dict[str, Any], logical_id: str,
                   props: dict[str, Any]) -> dict[str, str]:
        name = props.get("Name") or f"/{stack}/{logical_id}"
        value = self.render(stack, template, props["Value"])
        self.client("ssm").put_parameter(Name=name, Value=value, Type=props.get("Type", "String"))
        return {"Ref": name, "Type": props.get("Type", "String"), "Value": value}

    def _user_pool(self, stack: str, template: dict[str, Any], logical_id: str,
                   props: dict[str, Any]) -> dict[str, str]:
        issuer = self._serve_issuer(stack, template, logical_id)
        self.issuers[(stack, logical_id)] = issuer
        host = urlsplit(issuer.issuer).netloc
        return {"Ref": f"{REGION}_{_suffix(stack, logical_id)[:9]}", "ProviderURL": host,
                "ProviderName": host, "Arn": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{logical_id}"}

    def _user_pool_client(self, stack: str, template: dict[str, Any], logical_id: str,
                          props: dict[str, Any]) -> dict[str, str]:
        values = {"Ref": f"{logical_id.lower()}-{_suffix(stack, logical_id)[:8]}",
                  "Name": props.get("ClientName", logical_id)}
        if props.get("GenerateSecret"):
            values["ClientSecret"] = hashlib.sha256(f"{stack}/{logical_id}/secret".encode()).hexdigest()
        return values

    def _function_url(self, stack: str, template: dict[str, Any], logical_id: str,
                      props: dict[str, Any]) -> dict[str, str]:
        host = f"{_suffix(stack, logical_id)[:32].lower()}.lambda-url.{REGION}.on.aws"
        return {"FunctionUrl": f"https://{host}/",
                "FunctionArn": self.render(stack, template, props["TargetFunctionArn"])}

    def _function(self, stack: str, template: dict[str, Any], logical_id: str,
                  props: dict[str, Any]) -> dict[str, str]:
        # CloudFormation's own names: <stack>-<logical id>-<random>, at most 64 characters.
        name = props.get("FunctionName") or f"{stack}-{logical_id}"[:50] + f"-{_suffix(stack, logical_id)[:13]}"
        return {"Ref": name, "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"}

    def _alias(self, stack: str, template: dict[str, Any], logical_id: str, props: dict[str, Any]) -> dict[str, str]:
        # An alias's Ref is its ARN: the function's with the alias name as qualifier (what a front invokes).
        function = self.render(stack, template, props["FunctionName"])
        arn = function if function.startswith("arn:") else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
        return {"Ref": f"{arn}:{props['Name']}"}

    def _log_group(self, stack: str, template: dict[str, Any], logical_id: str,
                   props: dict[str, Any]) -> dict[str, str]:
        name = props.get("LogGroupName") or f"{stack}-{logical_id}-{_suffix(stack, logical_id)[:12]}"
        return {"Ref": name, "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"}

    # -- the issuer standing in for a Cognito pool -------------------------------------------------------------------
    def _serve_issuer(self, stack: str, template: dict[str, Any], pool: str) -> DevIssuer:
        """A DevIssuer over HTTPS, its one registered client the pool's confidential one (the authorization
        server's upstream client), if the pool has one."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self._key_file)
        box: dict[str, DevIssuer] = {}
        server = ThreadingHTTPServer(("127.0.0.1", 0), issuer_handler(box))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._servers.append(server)
        client = None
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if (resource["Type"] == "AWS::Cognito::UserPoolClient" and props.get("UserPoolId") == {"Ref": pool}
                    and props.get("GenerateSecret")):
                values = self._resolve(stack, template, logical_id)
                redirect = self.render(stack, template, props["CallbackURLs"][0])
                client = RegisteredClient(values["Ref"], values["ClientSecret"], redirect)
        box["issuer"] = DevIssuer(f"https://127.0.0.1:{server.server_address[1]}", client=client)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return box["issuer"]


def _suffix(stack: str, logical_id: str) -> str:
    """A stable stand-in for the random part of a generated name."""
    return hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()


_MAKERS = {
    "AWS::SecretsManager::Secret": StandIns._secret,
    "AWS::KMS::Key": StandIns._key,
    "AWS::DynamoDB::Table": StandIns._table,
    "AWS::SSM::Parameter": StandIns._parameter,
    "AWS::Cognito::UserPool": StandIns._user_pool,
    "AWS::Cognito::UserPoolClient": StandIns._user_pool_client,
    "AWS::Lambda::Url": StandIns._function_url,
    "AWS::Lambda::Function": StandIns._function,
    "AWS::Lambda::Alias": StandIns._alias,
    "AWS::Logs::LogGroup": StandIns._log_group,
}
