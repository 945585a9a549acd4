"""The settings helpers reject bad values, naming the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from msproc import env


@pytest.mark.parametrize(
    ("helper", "value", "message"),
    [
        (lambda: env.env_bool("X_FLAG"), "maybe", "X_FLAG: expected a boolean"),
        (lambda: env.env_int("X_FLAG", 1), "ten", "X_FLAG: expected an integer"),
        (lambda: env.env_int("X_FLAG", 1, minimum=1), "0", "X_FLAG: must be >= 1"),
        (lambda: env.env_float("X_FLAG", 1.0), "fast", "X_FLAG: expected a number"),
        (lambda: env.env_choice("X_FLAG", "a", ("a", "b")), "c", "X_FLAG: expected one of a, b"),
        (lambda: env.env_database_url("X_FLAG", "sqlite:///x"), "mysql://h/db", "X_FLAG: unsupported scheme"),
        (lambda: env.env_database_url("X_FLAG", "sqlite:///x"), "postgres://host/", "X_FLAG: the URL names no"),
        (lambda: env.env_broker_url("X_FLAG", "redis://"), "kafka://h", "X_FLAG: unsupported transport"),
        (lambda: env.env_str("X_FLAG", required=True), "", "X_FLAG: must be set"),
    ],
)
def test_it_rejects_bad_values_naming_the_variable(monkeypatch, helper, value, message):
    monkeypatch.setenv("X_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        helper()


def test_it_parses_good_values(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "7")
    monkeypatch.setenv("X_LIST", "a.org, b.org,,")
    monkeypatch.setenv("X_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("X_DB", "postgres://u@127.0.0.1:5432/msproc")
    assert env.env_bool("X_BOOL") is True
    assert env.env_int("X_INT", 1, minimum=1) == 7
    assert env.env_list("X_LIST") == ["a.org", "b.org"]
    assert env.env_path("X_PATH", tmp_path) == tmp_path / "data"
    db = env.env_database_url("X_DB", "sqlite:///x")
    assert (db["ENGINE"], db["NAME"], db["HOST"]) == ("django.db.backends.postgresql", "msproc", "127.0.0.1")


def test_defaults_apply_when_unset(monkeypatch):
    monkeypatch.delenv("X_UNSET", raising=False)
    assert env.env_bool("X_UNSET", True) is True
    assert env.env_int("X_UNSET", 3) == 3
    assert env.env_list("X_UNSET", ["x"]) == ["x"]
    assert env.env_database_url("X_UNSET", "sqlite:////tmp/m.sqlite3")["NAME"] == "/tmp/m.sqlite3"
