"""Celery tasks of the transfers app: thin and idempotent."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from core.locks import singleton
from sites.models import ButlerRepo

from . import services


@shared_task(name="transfers.tasks.advance_movement", ignore_result=True)
def advance_movement(movement_id: int) -> None:
    """Carry a movement as far as it can go; a second delivery finds it moved on and does nothing."""
    services.advance_movement(movement_id)


@shared_task(name="transfers.tasks.refresh_replicas", ignore_result=True)
def refresh_replicas() -> int:
    """Record what every reachable ready repository holds (Replica rows), for the site pages; returns repos read."""
    done = 0
    with singleton("msproc-refresh-replicas") as acquired:
        if not acquired:
            return 0
        for repo in ButlerRepo.objects.filter(status="ready").select_related("site"):
            if Path(repo.root_uri, "butler.yaml").exists():
                services.refresh_replicas(repo)
                done += 1
    return done
