"""The OpenAPI description of msproc's token authentication (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": 'An API token with the prefix "Token": `Authorization: Token <token>` '
                               "(create one at /accounts/tokens/ or POST /api/v1/tokens/)."}
