"""API tokens: stored hashed, shown once at creation, listed and revoked by their owner only."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from knox.models import AuthToken
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core import roles

from .conftest import make_user, token_client

pytestmark = pytest.mark.django_db


def test_a_created_token_is_shown_once_and_only_its_hash_is_stored(client_for):
    client = client_for(roles.VIEWER)
    created = client.post("/api/v1/tokens/")
    assert created.status_code == 201
    token = created.json()["token"]
    assert len(token) == 64 and created.json()["token_key"] == token[:15]
    row = AuthToken.objects.get(token_key=token[:15])
    assert row.digest == hashlib.sha512(token.encode()).hexdigest()
    assert token not in {value for value in vars(row).values() if isinstance(value, str)}
    listed = client.get("/api/v1/tokens/").json()
    assert all("token" not in entry and "digest" not in entry for entry in listed)
    assert token[:15] in [entry["token_key"] for entry in listed]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/sites/").status_code == 200


def test_a_user_revokes_their_own_token_and_it_stops_working(db):
    user = make_user(roles.OPERATOR)
    client = token_client(user)
    _, spare = AuthToken.objects.create(user=user, expiry=None)
    assert client.delete(f"/api/v1/tokens/{spare[:15]}/").status_code == 204
    assert APIClient(HTTP_AUTHORIZATION=f"Token {spare}").get("/api/v1/sites/").status_code == 401
    assert client.get("/api/v1/sites/").status_code == 200  # the other token still works


@pytest.mark.parametrize("key", ["{other}", "{other_url}", "..%2F..%2F", "%00", "x" * 200])
def test_nobody_lists_or_revokes_another_users_token(db, key):
    alice, bob = make_user(roles.STAFF), make_user(roles.VIEWER)
    _, bobs = AuthToken.objects.create(user=bob, expiry=None)
    client = token_client(alice)
    assert bobs[:15] not in [entry["token_key"] for entry in client.get("/api/v1/tokens/").json()]
    path = key.format(other=bobs[:15], other_url=bobs[:15].replace("a", "%61"))
    assert client.delete(f"/api/v1/tokens/{path}/").status_code == 404
    assert APIClient(HTTP_AUTHORIZATION=f"Token {bobs}").get("/api/v1/sites/").status_code == 200


@pytest.mark.parametrize("header", ["Token ", "Token abc", "Token " + "0" * 64, "Token a b", "Bearer x",
                                    "Token \x00" + "0" * 63, "Token " + "0" * 14 + "%00", "Token " + "f" * 5000,
                                    "Token ../../etc/passwd"])
def test_a_wrong_or_malformed_token_is_refused(db, header):
    assert APIClient(HTTP_AUTHORIZATION=header).get("/api/v1/sites/").status_code == 401


def test_anonymous_users_cannot_manage_tokens(db):
    assert APIClient().post("/api/v1/tokens/").status_code == 401
    assert APIClient().get("/api/v1/tokens/").status_code == 401


def test_a_token_expires_when_a_lifetime_is_configured(db, settings, client_for):
    from datetime import timedelta

    from django.utils import timezone

    settings.MSPROC_API_TOKEN_TTL_DAYS = 30
    token = client_for(roles.VIEWER).post("/api/v1/tokens/").json()["token"]
    row = AuthToken.objects.get(token_key=token[:15])
    assert timezone.now() + timedelta(days=29) < row.expiry < timezone.now() + timedelta(days=31)
    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/sites/").status_code == 401


def test_the_migration_hashes_existing_plain_text_tokens_and_they_keep_working(db):
    from importlib import import_module

    migration = import_module("accounts.migrations.0001_hash_existing_tokens")
    user = make_user(roles.VIEWER)
    old = Token.objects.create(user=user)  # a plain-text DRF token from before the migration
    key = old.key
    migration.hash_existing_tokens(apps, None)
    migration.hash_existing_tokens(apps, None)  # twice: nothing duplicated
    assert not Token.objects.exists()
    row = AuthToken.objects.get(user=user)
    assert row.digest == hashlib.sha512(key.encode()).hexdigest() and row.token_key == key[:15]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/sites/").status_code == 200


def test_create_token_prints_a_new_token_that_works(db):
    make_user(roles.VIEWER)
    out = StringIO()
    call_command("create_token", "api-viewer", "--reset", stdout=out)
    token = out.getvalue().strip()
    assert AuthToken.objects.filter(user__username="api-viewer").count() == 1
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/sites/").status_code == 200


def test_the_admin_shows_no_plain_text_tokens(admin_client):
    from django.contrib import admin

    assert not admin.site.is_registered(Token)
    assert admin.site.is_registered(AuthToken)
    assert admin_client.get("/admin/authtoken/").status_code == 404
