"""Status vocabularies of the sites app."""

from django.db import models


class DataFacility(models.TextChoices):
    USDF = "USDF", "USDF (SLAC)"
    FRDF = "FrDF", "FrDF (IN2P3)"
    UKDF = "UKDF", "UKDF (LANCS, RAL)"


class SiteStatus(models.TextChoices):
    ONLINE = "online", "Online"
    DRAINING = "draining", "Draining"
    OFFLINE = "offline", "Offline"

    @classmethod
    def colour(cls, value: str) -> str:
        return {"online": "success", "draining": "warning", "offline": "danger"}.get(value, "secondary")


class RepoStatus(models.TextChoices):
    ABSENT = "absent", "Absent"
    CREATING = "creating", "Creating"
    READY = "ready", "Ready"
    TEARING_DOWN = "tearing_down", "Tearing down"
    FAILED = "failed", "Failed"

    @classmethod
    def colour(cls, value: str) -> str:
        return {"ready": "success", "creating": "info", "tearing_down": "warning", "failed": "danger"}.get(
            value, "secondary"
        )


class QueueKind(models.TextChoices):
    STANDARD = "standard", "Standard"
    MERGE = "merge", "Merge"
    HIMEM = "himem", "High memory"
    MULTICORE = "multicore", "Multi-core"
    TEST = "test", "Test"


class ExecutionBackend(models.TextChoices):
    """Where a site's groups run: pipetask on this machine, PanDA through BPS, or no-op (benchmarks)."""

    LOCAL = "local", "Local (pipetask)"
    PANDA = "panda", "PanDA (BPS)"
    NOOP = "noop", "No-op (benchmarks)"


class TransferBackend(models.TextChoices):
    """How data reaches a site: Butler transfers on this machine, or Rucio + ingest."""

    LOCAL = "local", "Local (Butler transfer)"
    RUCIO = "rucio", "Rucio"
