"""The migrations apply on both databases msproc runs on: PostgreSQL (the suite's) and the embedded default's
SQLite (README's run command), from an empty database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_every_migration_applies_to_an_empty_sqlite_database(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(MSPROC_DATA_DIR=str(tmp_path), DEBUG="true")
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "msproc.sqlite3").stat().st_size > 0


@pytest.mark.django_db
def test_the_change_feed_sweep_has_its_nulls_first_index_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'campaigns_job_sweep_idx'")
        (definition,) = cursor.fetchone()
    assert "polled_at NULLS FIRST" in definition and "WHERE" in definition
