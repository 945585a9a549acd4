"""Status vocabularies of the campaigns app.

Campaign, Step, Group and Job share one status vocabulary; each model's verb
methods decide which moves are legal for it.
"""

from django.db import models


class Status(models.TextChoices):
    WAITING = "waiting", "Waiting"
    READY = "ready", "Ready"
    PREPARED = "prepared", "Prepared"
    RUNNING = "running", "Running"
    REVIEWABLE = "reviewable", "Reviewable"
    ACCEPTED = "accepted", "Accepted"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked"
    PAUSED = "paused", "Paused"
    RESCUABLE = "rescuable", "Rescuable"
    RESCUED = "rescued", "Rescued"
    REJECTED = "rejected", "Rejected"

    @classmethod
    def colour(cls, value: str) -> str:
        """Badge colour of a status."""
        return {
            "waiting": "secondary", "ready": "info", "prepared": "info", "running": "primary",
            "reviewable": "warning", "accepted": "success", "failed": "danger", "blocked": "warning",
            "paused": "dark", "rescuable": "warning", "rescued": "success", "rejected": "dark",
        }.get(value, "secondary")


class Scope(models.TextChoices):
    WIDE = "wide", "Wide (every site its share)"
    GLOBAL = "global", "Global (hub only)"


class ErrorAction(models.TextChoices):
    RETRY = "retry", "Retry"
    RESCUE = "rescue", "Rescue (rerun what is missing)"
    PAUSE = "pause", "Pause the campaign"
    REVIEW = "review", "Wait for review"
    FAIL = "fail", "Fail"
