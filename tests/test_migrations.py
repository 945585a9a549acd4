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


def _compression(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
                       [table, column])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_data_id_columns_are_compressed_with_lz4_on_postgresql():
    from core.bulk import lz4_supported

    assert lz4_supported(connection)  # the suite's PostgreSQL has it (Debian's and PGDG's are built with it)
    for table, column in (("campaigns_campaign", "plan"), ("campaigns_group", "data_ids"),
                          ("transfers_movement", "data_ids")):
        assert _compression(table, column) == "l", (table, column)


@pytest.mark.django_db
def test_lz4_compression_can_be_undone():
    from core.bulk import compress_with_lz4

    with connection.schema_editor() as editor:
        assert compress_with_lz4(editor, "transfers_movement", ["data_ids"], undo=True)
    assert _compression("transfers_movement", "data_ids") == ""  # the server's default_toast_compression
    with connection.schema_editor() as editor:
        assert compress_with_lz4(editor, "transfers_movement", ["data_ids"])
    assert _compression("transfers_movement", "data_ids") == "l"


class _Editor:
    """A schema editor on a server that answers the lz4 question with ``answer`` (or on SQLite)."""

    def __init__(self, vendor: str, answer=None):
        self.executed: list[str] = []
        self.connection = self
        self.vendor = vendor
        self.answer = answer

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, params=None):
        self.executed.append(sql)

    def fetchone(self):
        return self.answer


@pytest.mark.parametrize("vendor, answer", [("sqlite", None), ("postgresql", None), ("postgresql", (False,))])
def test_lz4_is_left_alone_where_the_server_has_none(vendor, answer):
    from core.bulk import compress_with_lz4

    editor = _Editor(vendor, answer)
    assert not compress_with_lz4(editor, "campaigns_group", ["data_ids"])
    assert not any("ALTER TABLE" in sql for sql in editor.executed)
