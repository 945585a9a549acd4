"""Shared fixtures. Tests run against the database named by DATABASE_URL (PostgreSQL in scripts/test.sh)."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.org", "pw-for-tests")
