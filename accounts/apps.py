from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """API tokens (stored hashed by django-rest-knox): created, listed and revoked by their owners."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI description of token authentication)
