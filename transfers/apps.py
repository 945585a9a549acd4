from django.apps import AppConfig


class TransfersConfig(AppConfig):
    """Dataset types, replicas and the movements of data between sites."""

    name = "transfers"
    verbose_name = "Transfers"
