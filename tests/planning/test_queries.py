"""User query fragments: parsed by daf_butler's expression parser, combined as one operand, never reaching argv.

The BPS tests go through the same path a PanDA submission does: the group's submit YAML
(``render_submit_yaml``), the attempt's config (``build_submit_config``) written as YAML, read back as a
``BpsConfig`` with BPS's defaults, and the ``createQuantumGraph`` command expanded and split with ``shlex``
as ``lsst.ctrl.bps.pre_transform.execute`` does.
"""

from __future__ import annotations

import shlex

import pytest
import yaml
from lsst.daf.butler.queries.expressions.parser import parse_expression
from lsst.daf.butler.queries.expressions.parser.exprTree import BinaryOp, IsIn, Parens

from campaigns.backends.panda.bpsconfig import build_submit_config, write_submit_config
from planning.bps import SiteInfo, render_submit_yaml
from planning.planner import plan_campaign
from planning.query import conjoin, literal, query_error
from planning.spec import SpecError, load_spec

from .conftest import SITES, TEMPLATES

ATTACKS = [
    "band='g') OR (band='r'",                                   # closes the planner's parentheses
    "band='g' OR",                                              # not a whole expression
    "band='r'\" --butler-config \"/elsewhere/repo\" -d \"visit>0",  # closes BPS's quoting (unbalanced)
    "band='r\" --butler-config \"/elsewhere/repo\" -d \"z'",      # the same, inside a string literal
    "band='{butlerConfig}'",                                    # BPS variable expansion
    "band='${HOME}'",                                           # environment expansion
    "band='g'\n--extra",                                        # a new line
    "band='g' ; rm -rf /",                                      # shell metacharacters
    "band='a\\' OR 1=1",                                        # backslash escapes
    "visit > :limit",                                           # an unbound bind name
    "band=\"g\"",                                               # double quotes are no Butler string
    "",
]


def _with_query(query: str) -> dict:
    document = yaml.safe_load((TEMPLATES / "2x2.yaml").read_text())
    document["steps"][1]["split"] = {"by": "query", "query": query}  # step2a: visit level
    return document


@pytest.mark.parametrize("query", ATTACKS)
def test_it_refuses_a_query_that_is_not_one_safe_butler_expression_at_its_path(query, dataflow):
    with pytest.raises(SpecError) as excinfo:
        load_spec(yaml.safe_dump(_with_query(query)), known_sites=SITES, dataflow=dataflow)
    assert [error.path for error in excinfo.value.errors] == ["steps[1].split.query"]


@pytest.mark.parametrize("query", [
    "band='g' OR band='r'",
    "band IN ('g', 'r') AND NOT (visit = 3)",
    "(band != 'u')",
    "visit > 0 OR band = 'z'",
])
def test_it_keeps_the_planners_restriction_whatever_operators_the_query_holds(query, dataflow, inventory):
    spec, flow = load_spec(yaml.safe_dump(_with_query(query)), known_sites=SITES, dataflow=dataflow)
    plan = plan_campaign(spec, inventory, flow)
    step = plan.step("step2a")
    assert step.groups
    for group in step.groups:
        tree = parse_expression(group.data_query)
        # The top is an AND whose right operand is the user's fragment in parentheses, and whose left holds
        # the group's visits: no OR in the fragment can widen past them.
        assert isinstance(tree, BinaryOp) and tree.op == "AND"
        assert isinstance(tree.rhs, Parens)
        restriction = tree.lhs
        assert isinstance(restriction, BinaryOp) and isinstance(restriction.rhs, IsIn)
        assert [int(str(v)) for v in restriction.rhs.values] == group.visits


def test_every_planned_query_parses_with_the_butler_grammar(dataflow, inventory):
    document = yaml.safe_load((TEMPLATES / "2x4.yaml").read_text())
    document["steps"][1]["split"] = {"by": "values", "dimension": "band", "values": ["g", "r"]}
    spec, flow = load_spec(yaml.safe_dump(document), known_sites=SITES, dataflow=dataflow,
                           site_shares={"SLAC": 0.35, "IN2P3": 0.40, "LANCS": 0.10, "RAL": 0.15})
    plan = plan_campaign(spec, inventory, flow)
    for step in plan.steps:
        for group in step.groups:
            assert query_error(group.data_query) is None, group.data_query


@pytest.mark.parametrize(("value", "quoted"), [("g", "'g'"), ("HSC-G", "'HSC-G'"), (12, "12")])
def test_it_quotes_values_the_way_the_butler_grammar_expects(value, quoted):
    assert literal(value) == quoted
    assert query_error(f"band={literal(value)}") is None


@pytest.mark.parametrize("value", ["o'brien", "a\"b", "{x}", "$X", ""])
def test_it_refuses_split_values_that_cannot_be_quoted(value, dataflow):
    document = _with_query("band='g'")
    document["steps"][1]["split"] = {"by": "values", "dimension": "band", "values": ["g", value]}
    with pytest.raises(SpecError) as excinfo:
        load_spec(yaml.safe_dump(document), known_sites=SITES, dataflow=dataflow)
    assert [error.path for error in excinfo.value.errors] == ["steps[1].split.values[1]"]


@pytest.mark.parametrize("dimension", ["band OR 1", "visit)", "x y", "a.b.c.d"])
def test_it_refuses_a_split_dimension_that_is_not_a_dimension_name(dimension, dataflow):
    document = _with_query("band='g'")
    document["steps"][1]["split"] = {"by": "values", "dimension": dimension, "values": ["g"]}
    with pytest.raises(SpecError) as excinfo:
        load_spec(yaml.safe_dump(document), known_sites=SITES, dataflow=dataflow)
    assert [error.path for error in excinfo.value.errors] == ["steps[1].split.dimension"]


def test_conjoin_parenthesises_every_fragment_with_an_operator():
    assert conjoin(["instrument='X' AND visit IN (1, 2)", "band='g' OR band='r'"]) == (
        "instrument='X' AND visit IN (1, 2) AND (band='g' OR band='r')")
    # A literal holding " AND " is not split: the fragment is parenthesised whole.
    assert conjoin(["visit IN (1)", "band='a AND b'"]) == "visit IN (1) AND (band='a AND b')"
    assert conjoin(["visit IN (1)", "band='x' OR band='y'"]).endswith("(band='x' OR band='y')")


@pytest.fixture
def panda_environment(monkeypatch, tmp_path):
    """panda-client, imported by BpsConfig for the PanDA plugin's defaults, resolves its server at import."""
    for name in ("PANDA_URL", "PANDA_URL_SSL", "PANDACACHE_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/server/panda")
    monkeypatch.setenv("PANDA_CONFIG_ROOT", str(tmp_path / "panda"))


def _qgraph_argv(tmp_path, query: str, dataflow, inventory) -> tuple[list[str], str]:
    from lsst.ctrl.bps import BPS_DEFAULTS, BPS_SEARCH_ORDER, BpsConfig

    spec, flow = load_spec(yaml.safe_dump(_with_query(query)), known_sites=SITES, dataflow=dataflow)
    plan = plan_campaign(spec, inventory, flow)
    step = plan.step("step2a")
    group = step.groups[0]
    site = SiteInfo(group.site, "SLAC", "US", "/repo/main")
    bps_yaml = render_submit_yaml(plan, step, group, site, pipeline_yaml="/pipelines/drp.yaml")
    config = build_submit_config(bps_yaml, workflow_name="w-c1-step2a-g1-a1",
                                 output_run="u/msproc/mock-2x2/step2a/group1/attempt1", submit_dir=tmp_path)
    path = write_submit_config(config, tmp_path / "submit.yaml")
    bps = BpsConfig(str(path), search_order=BPS_SEARCH_ORDER, defaults=BPS_DEFAULTS)
    found, command = bps.search("createQuantumGraph", opt={"curvals": {"qgraphFile": "g.qg"}})
    assert found
    return shlex.split(command), group.data_query


@pytest.mark.parametrize("query", ["band='g' OR band='r'", "band IN ('g', 'r', 'i') AND visit > 0",
                                   "NOT (band = 'u') AND visit != 7"])
def test_a_query_reaches_pipetask_as_exactly_one_argument_through_bps_expansion(query, tmp_path, dataflow,
                                                                                 inventory, panda_environment):
    argv, data_query = _qgraph_argv(tmp_path, query, dataflow, inventory)
    assert argv.count("-d") == 1
    assert argv[argv.index("-d") + 1] == data_query
    assert argv.count("--butler-config") == 1
    assert argv[argv.index("--butler-config") + 1] == "/repo/main"
    assert argv[argv.index("-i") + 1] == "u/msproc/mock-2x2/input"


def test_the_argv_attack_never_reaches_bps(tmp_path, dataflow, inventory, panda_environment):
    attack = "band='r\" --butler-config \"/elsewhere/repo\" -d \"z'"
    with pytest.raises(SpecError):
        _qgraph_argv(tmp_path, attack, dataflow, inventory)
