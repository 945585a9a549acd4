"""The settings module itself fails loudly on bad environment values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_settings(_code: str = "import msproc.settings", **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    clean.update(env)
    return subprocess.run([sys.executable, "-c", _code], cwd=ROOT, env=clean, capture_output=True, text=True)


DEV_KEY = "django-insecure-msproc-development-key-never-use-in-production"


@pytest.mark.parametrize("secret_key", [None, "", DEV_KEY, "django-insecure-" + "k" * 60, "short-key",
                                        "a" * 80, "abab" * 20])
def test_without_a_real_secret_key_msproc_refuses_to_start_when_debug_is_off(tmp_path, secret_key):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update(DEBUG="false", ALLOWED_HOSTS="msproc.example.org", MSPROC_DATA_DIR=str(tmp_path))
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.startswith("msproc cannot start: SECRET_KEY:"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", ["msproc.wsgi", "msproc.celery"])
def test_the_web_and_celery_processes_refuse_the_development_key_too(tmp_path, module):
    code = f"import {module}; import django; django.setup()" if module == "msproc.celery" else f"import {module}"
    result = _load_settings(DEBUG="false", MSPROC_DATA_DIR=str(tmp_path), SECRET_KEY=DEV_KEY,
                            DJANGO_SETTINGS_MODULE="msproc.settings", _code=code)
    assert result.returncode != 0
    assert "SECRET_KEY: the development key is public" in result.stderr


def test_with_debug_on_the_development_key_is_used(tmp_path):
    result = _load_settings(DEBUG="true", MSPROC_DATA_DIR=str(tmp_path),
                            _code="import msproc.settings as s; print(s.SECRET_KEY)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == DEV_KEY


def test_a_bad_debug_value_names_the_variable(tmp_path):
    result = _load_settings(DEBUG="perhaps", MSPROC_DATA_DIR=str(tmp_path))
    assert "DEBUG: expected a boolean" in result.stderr


def test_production_values_pass_check_deploy(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="false", SECRET_KEY="x" * 20 + "-Zq9!kP2@vL7#mN4$bR8%tY6^wE3&uI1*oA5",
               ALLOWED_HOSTS="msproc.example.org",
               MSPROC_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout
