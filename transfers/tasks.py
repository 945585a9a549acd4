"""Celery tasks of the transfers app: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="transfers.tasks.advance_movement", ignore_result=True)
def advance_movement(movement_id: int) -> None:
    """Carry a movement as far as it can go; a second delivery finds it moved on and does nothing."""
    services.advance_movement(movement_id)
