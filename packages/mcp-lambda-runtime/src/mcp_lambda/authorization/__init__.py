"""An OAuth 2.1 authorization server for the MCP servers of an app, on Lambda, for clients that register
themselves (Client ID Metadata Documents, Dynamic Client Registration) in front of an identity provider that
offers neither (a Cognito user pool, Google, any OpenID Connect issuer).
"""
