"""Celery tasks of the notifications app: thin and idempotent; the logic is in services."""

from __future__ import annotations

from celery import shared_task

from core.locks import singleton

from .services import NotifyError


@shared_task(name="notifications.tasks.dispatch", ignore_result=True)
def dispatch() -> int:
    """Turn new events into grouped notifications and queue the ones due (beat, apart from the tick)."""
    from .services import dispatch as run

    with singleton("msproc-notify-dispatch") as acquired:
        if not acquired:
            return 0
        return len(run())


@shared_task(name="notifications.tasks.send_notification", bind=True, ignore_result=True,
             autoretry_for=(NotifyError,), retry_backoff=True, retry_backoff_max=300, max_retries=5)
def send_notification(self, notification_id: int) -> None:
    """Send one queued notification; a second delivery finds it sent and does nothing."""
    from .services import give_up, send

    try:
        send(notification_id)
    except NotifyError as exc:
        if self.request.retries >= self.max_retries:
            give_up(notification_id, str(exc))
            return
        raise
