"""msproc: multi-site processing campaigns for Rubin Observatory data releases."""

from msproc.celery import app as celery_app

__all__ = ("celery_app",)
