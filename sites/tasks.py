"""Celery tasks of the sites app."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sites.tasks.rinse_sites", ignore_result=True)
def rinse_sites(user_id: int | None = None) -> None:
    """Tear down every embedded site's repository and rebuild it from scratch (rinse-and-repeat)."""
    from django.contrib.auth import get_user_model

    from .services import setup_local_sites

    actor = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    setup_local_sites(rinse=True, actor=actor)


@shared_task(name="sites.tasks.refresh_replicas", ignore_result=True)
def refresh_replicas() -> int:
    """Record what every reachable ready repository holds (Replica rows), for the site pages; returns repos read."""
    from pathlib import Path

    from core.locks import singleton

    from .models import ButlerRepo
    from .services import refresh_replicas as refresh

    done = 0
    with singleton("msproc-refresh-replicas") as acquired:
        if not acquired:
            return 0
        for repo in ButlerRepo.objects.filter(status="ready").select_related("site"):
            if Path(repo.root_uri, "butler.yaml").exists():
                refresh(repo)
                done += 1
    return done
