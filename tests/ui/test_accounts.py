"""The account pages: API tokens created (shown once) and revoked by their owner; login throttling."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_user_creates_a_token_on_the_page_and_sees_it_only_once(viewer_client, viewer):
    created = viewer_client.post(reverse("accounts:tokens"), {"action": "create"})
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    token = created.context["new_token"]
    assert token in created.content.decode()
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/sites/").status_code == 200
    again = viewer_client.get(reverse("accounts:tokens")).content.decode()
    assert token not in again and token[:15] in again


def test_a_user_revokes_a_token_on_the_page(viewer_client, viewer):
    _, token = AuthToken.objects.create(user=viewer, expiry=None)
    response = viewer_client.post(reverse("accounts:tokens"), {"action": "revoke", "token_key": token[:15]},
                                  follow=True)
    assert "revoked" in response.content.decode()
    assert not AuthToken.objects.filter(user=viewer).exists()


@pytest.mark.parametrize("key", ["{other}", "", "zz", "../../x", "\x00"])
def test_the_page_never_revokes_another_users_token(viewer_client, operator, key):
    _, theirs = AuthToken.objects.create(user=operator, expiry=None)
    response = viewer_client.post(reverse("accounts:tokens"),
                                  {"action": "revoke", "token_key": key.format(other=theirs[:15])}, follow=True)
    assert response.status_code == 200 and "no such token" in response.content.decode()
    assert AuthToken.objects.filter(user=operator).count() == 1
    assert theirs[:15] not in viewer_client.get(reverse("accounts:tokens")).content.decode()


def test_the_tokens_page_needs_a_login(client):
    response = client.get(reverse("accounts:tokens"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def _login(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_repeated_wrong_passwords_lock_the_login_even_with_the_right_one(client, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert _login(client, viewer.username, "wrong").status_code == 200  # the form again
    assert _login(client, viewer.username, "wrong").status_code == 429
    locked = _login(client, viewer.username, "pw-for-tests")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert client.get(reverse("home")).status_code == 302  # still not signed in


def test_a_lockout_is_per_user_and_address(client, viewer, operator, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        _login(client, viewer.username, "wrong")
    assert _login(Client(), operator.username, "pw-for-tests").status_code == 302
    assert _login(Client(), viewer.username, "pw-for-tests", address="10.0.0.2").status_code == 302
    assert _login(Client(), viewer.username, "pw-for-tests").status_code == 429


@pytest.mark.parametrize("username", ["VIEWER-USER", "viewer-user\x00", "' OR 1=1 --", "x" * 500])
def test_odd_usernames_count_as_failures_and_never_break_the_login(client, viewer, settings, username):
    settings.AXES_FAILURE_LIMIT = 2
    assert _login(client, username, "wrong").status_code == 200
    assert _login(client, username, "wrong").status_code in (200, 429)
    assert _login(client, viewer.username, "pw-for-tests").status_code == 302


def test_a_successful_login_resets_the_failure_count(client, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _login(client, viewer.username, "wrong")
    _login(client, viewer.username, "wrong")
    assert _login(client, viewer.username, "pw-for-tests").status_code == 302
    client.logout()
    _login(client, viewer.username, "wrong")
    _login(client, viewer.username, "wrong")
    assert _login(client, viewer.username, "pw-for-tests").status_code == 302
