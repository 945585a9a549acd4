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
