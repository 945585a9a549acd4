"""Shared fixtures. Tests run against the database named by DATABASE_URL (PostgreSQL in scripts/test.sh)."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    from django.conf import settings

    # Hashing a password takes ~0.5 s with the production hasher; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.org", "pw-for-tests")
