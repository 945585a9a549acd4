"""Spec values are checked against what they feed: columns, Butler, BPS command lines, the planner's data.

Each kind of fault is tried with several inputs; every error names its field path.
"""

from __future__ import annotations

import pytest
import yaml

from planning.planner import plan_campaign
from planning.spec import (
    SPEC_MAX_BYTES,
    SPEC_MAX_DEPTH,
    SpecError,
    load_spec,
    parse_spec,
)

from .conftest import SHARES, SITES, TEMPLATES


def _template(name: str = "2x2") -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text())


def _errors(document: dict | str, dataflow=None, **kwargs) -> dict[str, str]:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    with pytest.raises(SpecError) as excinfo:
        load_spec(text, known_sites=SITES, site_shares=SHARES, dataflow=dataflow, **kwargs)
    return {error.path: error.message for error in excinfo.value.errors}


def _plan_errors(document: dict, dataflow, inventory) -> dict[str, str]:
    spec, flow = load_spec(yaml.safe_dump(document), known_sites=SITES, dataflow=dataflow)
    with pytest.raises(SpecError) as excinfo:
        plan_campaign(spec, inventory, flow, collection_max_length=64)
    return {error.path: error.message for error in excinfo.value.errors}


# -- strings against their column, Butler's and the command line's limits ------------------------------------


@pytest.mark.parametrize("name", ["x" * 129, "c03 x", "../../etc", "/abs", "-leading", "tab\tname", "ünï", ""])
def test_it_refuses_campaign_names_that_cannot_be_stored_or_named_externally(name, dataflow):
    document = {**_template(), "name": name}
    assert "name" in _errors(document, dataflow)


def test_it_checks_a_name_given_apart_from_the_spec_like_the_spec_s_own(dataflow):
    assert "at most 128 characters" in _errors(_template(), dataflow, name="n" * 200)["name"]
    spec, _ = load_spec(yaml.safe_dump(_template()), dataflow=dataflow, name="weekly-1")
    assert (spec.name, spec.output_prefix) == ("weekly-1", "u/msproc/weekly-1")


@pytest.mark.parametrize("prefix", ["u/msproc/../x", "u//msproc", "/u/msproc", "u/msproc/", "u/ms proc",
                                    "u/msproc/a,b", "u/" + "p" * 70, 'u/"q"', "u/./x"])
def test_it_refuses_output_prefixes_butler_or_bps_cannot_take(prefix, dataflow):
    assert "output_prefix" in _errors({**_template(), "output_prefix": prefix}, dataflow)


def test_it_refuses_a_prefix_whose_collections_would_pass_butlers_64_characters(dataflow, inventory):
    document = {**_template(), "output_prefix": "u/msproc/" + "p" * 35}
    errors = _plan_errors(document, dataflow, inventory)
    assert "the hub's Butler allows 64" in errors["output_prefix"]
    document = {**_template(), "name": "n" * 40}
    del document["tract_map"]
    document["sites"] = ["SLAC"]
    spec, flow = load_spec(yaml.safe_dump(document), known_sites=SITES, site_shares=SHARES, dataflow=dataflow)
    with pytest.raises(SpecError) as excinfo:
        plan_campaign(spec, inventory, flow)  # Butler's 64 by default, with no setting
    assert [error.path for error in excinfo.value.errors] == ["name"]  # the default prefix comes from the name
    assert plan_campaign(spec, inventory, flow, collection_max_length=None).output_prefix == "u/msproc/" + "n" * 40


@pytest.mark.parametrize(("path", "value"), [
    (("inputs", "collections"), ["MockCam/raw all"]),
    (("inputs", "collections"), ["a,b"]),
    (("inputs", "collections"), ["x" * 65]),
    (("inputs", "dataset_types"), ["raw; rm"]),
    (("outputs", "return"), ["metrics" + "x" * 130]),
    (("instrument",), "Mock'Cam"),
    (("skymap",), 'sky"map'),
])
def test_it_refuses_strings_that_would_leave_their_place_in_a_query_or_command(path, value, dataflow):
    document = _template()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = _errors(document, dataflow)
    assert any(error.startswith(".".join(path)) for error in errors), errors


def test_it_refuses_step_names_that_are_not_subset_labels(dataflow):
    document = _template()
    document["steps"][0]["name"] = "step 1/../x"
    document["stages"][0]["steps"][0] = "step 1/../x"  # a space and a slash: a label never has them
    assert "pipeline subset label" in _errors(document, dataflow)["steps[0].name"]


# -- numbers: finite and in range -----------------------------------------------------------------------------


@pytest.mark.parametrize(("share", "message"), [
    (".nan", "finite"), (".inf", "finite"), ("-.inf", "finite"), ("-0.5", "between 0 and 1"), ("7", "between 0 and 1"),
])
def test_it_refuses_shares_that_are_not_finite_fractions(share, message):
    text = ("name: s\npipeline: mock:drp\nhub: SLAC\ninputs: {collections: [a]}\nstages: [{name: a, steps: [step1]}]\n"
            f"steps: [{{name: step1, memory_mb: 1}}]\nsites: [{{code: SLAC, share: {share}}}, "
            "{code: IN2P3, share: 0.5}]\n")
    with pytest.raises(SpecError) as excinfo:
        parse_spec(text, known_sites=SITES)
    assert message in {e.path: e.message for e in excinfo.value.errors}["sites[0].share"]


@pytest.mark.parametrize(("field", "value"), [("memory_mb", 10**12), ("memory_mb", -5), ("memory_mb", 2.5)])
def test_it_refuses_memory_out_of_range(field, value, dataflow):
    document = _template()
    document["steps"][0][field] = value
    assert "steps[0].memory_mb" in _errors(document, dataflow)


def test_it_refuses_split_sizes_and_tracts_out_of_range(dataflow):
    document = _template()
    document["steps"][0]["split"]["max_size"] = 10**15
    document["tract_map"] = {-3: "SLAC", 2**40: "IN2P3"}
    errors = _errors(document, dataflow)
    assert {"steps[0].split.max_size", "tract_map.-3", f"tract_map.{2**40}"} <= set(errors)


# -- data that does not exist ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tract", [9496, 0, 123456])
def test_it_refuses_a_tract_the_inventory_does_not_have(tract, dataflow, inventory):
    document = _template()
    document["tract_map"] = {9469: "SLAC", tract: "IN2P3"}
    assert _plan_errors(document, dataflow, inventory) == {f"tract_map.{tract}": "no such tract in the inventory"}


@pytest.mark.parametrize(("dimension", "value"), [("band", "q"), ("visit", 999999), ("tract", 1), ("tract", 9470)])
def test_it_refuses_split_values_the_data_does_not_have(dimension, value, dataflow, inventory):
    document = _template()
    document["steps"][1]["split"] = {"by": "values", "dimension": dimension, "values": [value]}
    errors = _plan_errors(document, dataflow, inventory)
    assert errors == {"steps[1].split.values[0]": f"no such {dimension} in the campaign's data: {value!r}"}


# -- document bounds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "[" * 5000 + "]" * 5000,
    "name: x\nsteps: " + "[" * 100_000,
    "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 800)),
    "name: x\nsteps: " + "{a: " * (SPEC_MAX_DEPTH + 1) + "1" + "}" * (SPEC_MAX_DEPTH + 1),
])
def test_it_refuses_a_spec_nested_too_deeply_with_a_message_not_a_recursion_error(text):
    with pytest.raises(SpecError) as excinfo:
        parse_spec(text)
    assert f"nests deeper than {SPEC_MAX_DEPTH} levels" in str(excinfo.value)


def test_it_refuses_a_spec_larger_than_the_limit_before_parsing_it():
    with pytest.raises(SpecError) as excinfo:
        parse_spec("name: " + "x" * SPEC_MAX_BYTES)
    assert "at most 1,000,000 are accepted" in str(excinfo.value)


def test_it_refuses_a_spec_with_too_many_values():
    text = "name: x\nsteps: [" + ", ".join(["a"] * 250_000) + "]\n"
    with pytest.raises(SpecError) as excinfo:
        parse_spec(text)
    assert "more than 200,000 values" in str(excinfo.value)
