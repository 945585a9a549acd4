"""Status vocabularies of the transfers app."""

from django.db import models


class MovementKind(models.TextChoices):
    SETUP = "setup", "Setup (before stage 1)"
    FAN_IN = "fan_in", "Fan-in (sites to hub)"
    FAN_OUT = "fan_out", "Fan-out (hub to sites)"
    EXCHANGE = "exchange", "Exchange (site to site)"
    RETURN = "return", "Return (final outputs)"
    ARCHIVE = "archive", "Archive (tape)"


class MovementStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    READY = "ready", "Ready"
    REGISTERING = "registering", "Registering"
    TRANSFERRING = "transferring", "Transferring"
    INGESTING = "ingesting", "Ingesting"
    DONE = "done", "Done"
    STUCK = "stuck", "Stuck"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def colour(cls, value: str) -> str:
        return {
            "planned": "secondary", "ready": "info", "registering": "primary", "transferring": "primary",
            "ingesting": "primary", "done": "success", "stuck": "warning", "failed": "danger",
            "cancelled": "dark",
        }.get(value, "secondary")
