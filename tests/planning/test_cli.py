"""The planning CLI prints JSON or a per-site summary."""

from __future__ import annotations

import io
import json

from planning.cli import main

from .conftest import DATA, TEMPLATES

ARGS = [str(TEMPLATES / "2x4.yaml"), "--inventory", str(DATA / "inventory_2x4.csv"),
        "--pipeline", str(DATA / "drp_test.yaml")]  # fmt: skip


def test_it_prints_the_plan_as_json():
    out = io.StringIO()
    assert main([*ARGS, "--json"], stdout=out) == 0
    data = json.loads(out.getvalue())
    assert data["hub"] == "SLAC" and data["movements"][-1]["kind"] == "archive"


def test_it_prints_a_per_site_summary():
    out = io.StringIO()
    assert main(ARGS, stdout=out) == 0
    text = out.getvalue()
    assert "== IN2P3: 2 tracts [9948, 9949]" in text
    assert "receives [fan_out] fgcm_photo_calib from SLAC before step2d" in text


def test_it_exits_2_on_spec_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert main([str(bad), "--inventory", str(DATA / "inventory_2x4.csv")]) == 2
    assert "spec error: pipeline: is required" in capsys.readouterr().err


def test_it_explains_per_site_what_runs_and_what_is_received_and_sent_with_counts():
    out = io.StringIO()
    assert main([*ARGS, "--explain"], stdout=out) == 0
    text = out.getvalue()
    in2p3 = text[text.index("== IN2P3"):text.index("== LANCS")]
    assert "step3    tract-level: 2 group(s)" in in2p3
    assert "receives 5 movement(s)" in in2p3 and "sends 4 movement(s)" in in2p3
    assert "[fan_out] from SLAC: fgcm_photo_calib (8 visits; 8 piece(s) expected)" in in2p3
    assert "[return] to SLAC: diff_src, metrics" in in2p3
    hub = text[text.index("== SLAC"):text.index("== IN2P3")]
    assert "step2c   global: 1 group over everything" in hub and "archives diff_src, metrics to tape" in hub


def test_json_and_explain_cannot_be_asked_together(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main([*ARGS, "--json", "--explain"])
    assert "not allowed with argument" in capsys.readouterr().err
