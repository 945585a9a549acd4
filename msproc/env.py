"""Typed readers for settings that come from the environment.

Each helper returns the parsed value or the default, and raises
``ImproperlyConfigured`` naming the variable when a value cannot be parsed,
so a typo in a deployment fails at start-up instead of later.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    """Return the variable as a string, ``default`` if unset.

    Raises ImproperlyConfigured if ``required`` and the variable is unset or empty.
    """
    value = _raw(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"{name}: must be set")
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    """Return the variable as a boolean (1/0, true/false, yes/no, on/off)."""
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return the variable as an integer, refusing values below ``minimum``."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be >= {minimum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """Return the variable as a float, refusing values below ``minimum``."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be >= {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return a comma-separated variable as a list of non-empty stripped items."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    """Return the variable as an absolute path (relative paths resolve against the cwd)."""
    value = _raw(name)
    if value is None or value == "":
        return default.resolve()
    if "\x00" in value:
        raise ImproperlyConfigured(f"{name}: not a valid path")
    return Path(value).expanduser().resolve()


def env_path_value(name: str, value: str) -> Path:
    """Return one path item of the variable ``name`` as an absolute, resolved path."""
    if "\x00" in value or not value.startswith(("/", "~")):
        raise ImproperlyConfigured(f"{name}: expected absolute paths, got {value!r}")
    return Path(value).expanduser().resolve()


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """Return the variable if it is one of ``choices``."""
    value = _raw(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


_URL_SCHEMES = ("sqlite", "postgres", "postgresql", "pgsql", "postgis")


def env_database_url(name: str, default: str) -> dict:
    """Parse a database URL into a Django DATABASES entry.

    Raises ImproperlyConfigured for an unsupported scheme or a URL without a database name.
    """
    import dj_database_url

    value = _raw(name) or default
    scheme = urlparse(value).scheme
    if scheme not in _URL_SCHEMES:
        raise ImproperlyConfigured(
            f"{name}: unsupported scheme {scheme!r}; expected one of {', '.join(_URL_SCHEMES)}"
        )
    try:
        config = dj_database_url.parse(value, conn_max_age=0)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name}: the URL names no database")
    return config


def env_broker_url(name: str, default: str) -> str:
    """Return a Celery broker URL, checking that its transport is one msproc supports."""
    value = _raw(name) or default
    scheme = urlparse(value).scheme
    allowed = ("redis", "rediss", "amqp", "amqps", "pyamqp", "sqla+sqlite", "sqla+postgresql", "memory")
    if scheme not in allowed:
        raise ImproperlyConfigured(f"{name}: unsupported transport {scheme!r}; expected one of {', '.join(allowed)}")
    return value


#: The key used when DEBUG is on and SECRET_KEY is unset. It is in the public source: never in production.
DEVELOPMENT_SECRET_KEY = "django-insecure-msproc-development-key-never-use-in-production"
_SECRET_KEY_MIN_LENGTH = 50
_SECRET_KEY_MIN_UNIQUE = 5


def env_secret_key(name: str, *, debug: bool) -> str:
    """Return the secret key from ``name``; the development key only when ``debug`` is on and it is unset.

    With ``debug`` off, raises ImproperlyConfigured (so the web process, the workers and beat refuse to
    start) when the key is unset, is the development key, starts with ``django-insecure-``, or is shorter
    than 50 characters or has fewer than 5 different characters (what ``check --deploy`` calls weak).
    """
    value = env_str(name)
    if debug:
        return value or DEVELOPMENT_SECRET_KEY
    hint = ('generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))" '
            "(see docs/security.md)")
    if not value:
        raise ImproperlyConfigured(f"{name}: must be set when DEBUG is off; {hint}")
    if value == DEVELOPMENT_SECRET_KEY or value.startswith("django-insecure-"):
        raise ImproperlyConfigured(f"{name}: the development key is public and must not be used when DEBUG "
                                   f"is off; {hint}")
    if len(value) < _SECRET_KEY_MIN_LENGTH or len(set(value)) < _SECRET_KEY_MIN_UNIQUE:
        raise ImproperlyConfigured(f"{name}: too weak (at least {_SECRET_KEY_MIN_LENGTH} characters, "
                                   f"{_SECRET_KEY_MIN_UNIQUE} different ones); {hint}")
    return value
