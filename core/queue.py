"""Enqueue a Celery task by its registered name.

Tasks import the services they run (``tasks -> services``); a service that enqueues a task names it
instead of importing the tasks module, so the import graph has no loop. Every app's ``AppConfig.ready()``
imports its tasks module, so the name is registered in every process (web, worker, tests) and
``CELERY_TASK_ALWAYS_EAGER`` and routing apply as with ``task.delay``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction


def send(task_name: str, *args: Any) -> None:
    """Enqueue ``task_name(*args)`` now. Raises KeyError for a name no tasks module registered."""
    current_app.tasks[task_name].delay(*args)


def send_on_commit(task_name: str, *args: Any) -> None:
    """Enqueue ``task_name(*args)`` once the current transaction commits (at once outside one)."""
    current_app.tasks[task_name]
    transaction.on_commit(partial(send, task_name, *args))
