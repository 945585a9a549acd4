"""The settings module itself fails loudly on bad environment values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import msproc.settings"], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_check_deploy_refuses_the_development_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update(DEBUG="false", ALLOWED_HOSTS="msproc.example.org", MSPROC_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


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
