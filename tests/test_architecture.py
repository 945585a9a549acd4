"""The layering of the apps, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
                           " sys.exit(lint_imports_command())", "--config", str(config), "--no-cache"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_it_keeps_every_layering_contract():
    result = _lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_it_reports_an_app_importing_an_app_above_it(tmp_path):
    # The same contracts with the layers upside down: campaigns' imports of sites break them, so the checker
    # does see the imports between the apps (it is not passing on an empty graph).
    text = (ROOT / "pyproject.toml").read_text()
    layers = 'layers = ["notifications", "campaigns", "transfers", "sites", "core"]'
    assert layers in text
    config = tmp_path / "pyproject.toml"
    config.write_text(text.replace(layers, 'layers = ["core", "sites", "transfers", "campaigns", "notifications"]'))
    result = _lint(config)
    assert result.returncode != 0
    assert "campaigns." in result.stdout  # the broken imports are named
    assert "1 broken" in result.stdout
