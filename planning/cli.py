"""Command line: plan a campaign from a spec and an inventory, print JSON or a per-site summary.

``python -m planning.cli SPEC --inventory visits.csv [--json]``;
the Django ``plan_campaign`` command wraps :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .dataflow import DataflowError, PipelineSources, load_dataflow
from .inventory import ButlerInventory, DataInventory, InventoryError, TableInventory
from .planner import Plan, PlannedMovement, PlanningError, plan_campaign
from .spec import SPEC_MAX_BYTES, SpecError, load_spec

__all__ = ["explain_movements", "main", "render_explain", "render_summary"]


def render_summary(plan: Plan) -> str:
    """Return a readable per-site summary: what each site runs and what it must receive."""
    lines = [f"campaign {plan.name}: hub {plan.hub}, output {plan.output_prefix}"]
    for site in plan.sites:
        lines.append("")
        lines.append(f"== {site.code}{' (hub)' if site.code == plan.hub else ''}: "
                     f"{len(site.tracts)} tracts {site.tracts}, {len(site.visits)} visits")  # fmt: skip
        runs = plan.groups_at(site.code)
        if not runs:
            lines.append("   runs nothing")
        for step in plan.steps:
            groups = [group for s, group in runs if s.name == step.name]
            if groups:
                lines.append(f"   runs {step.name} ({step.stage}, {step.scope}): {len(groups)} group(s)")
        receives = plan.movements_to(site.code)
        for movement in receives:
            when = (
                f"before {movement.before_step}" if movement.before_step else f"after {', '.join(movement.after_steps)}"
            )
            restriction = ", ".join(f"{len(v)} {k}(s)" for k, v in movement.data_ids.items()) or "all"
            lines.append(f"   receives [{movement.kind}] {', '.join(movement.dataset_types)} from "
                         f"{', '.join(movement.sources)} {when} ({restriction})")  # fmt: skip
    return "\n".join(lines) + "\n"


def explain_movements(plan: Plan) -> str:
    """Return the plan's movements step by step: what reaches which site before each step, by dataset type.

    One block per step that waits for data (in plan order), then the returns
    and the archive; each line names the kind, the route, the real dataset
    type names and the data IDs (``visit: 4 ids`` / ``healpix3: [281]``).
    """
    lines = [f"campaign {plan.name}: movements by step (hub {plan.hub})"]
    order = [step.name for step in plan.steps]
    blocks: dict[str | None, list] = {}
    for movement in plan.movements:
        blocks.setdefault(movement.before_step, []).append(movement)
    for name in [*order, None]:
        movements = blocks.get(name)
        if not movements:
            continue
        lines.append("")
        lines.append(f"before {name}:" if name else "after the last steps (returns and archive):")
        for movement in movements:
            restriction = ", ".join(
                f"{key}: {values if len(values) <= 4 else f'{len(values)} ids'}"
                for key, values in movement.data_ids.items()
            )
            route = f"{', '.join(movement.sources)} -> {movement.destination}"
            names = ", ".join(movement.dataset_types)
            lines.append(f"  [{movement.kind}] {route}: {names} ({restriction or 'whole'})")
    return "\n".join(lines) + "\n"


def _restriction(movement: PlannedMovement) -> str:
    """Return what a movement restricts, e.g. ``12 visits, 2 tracts`` or ``whole``."""
    if not movement.data_ids:
        return "whole"
    return ", ".join(f"{len(values)} {key}{'s' if len(values) != 1 else ''}"
                      for key, values in movement.data_ids.items())


def _movement_line(movement: PlannedMovement, verb: str, other: str) -> str:
    when = f"before {movement.before_step}" if movement.before_step else f"after {', '.join(movement.after_steps)}"
    count = "" if movement.expected_count is None else f"; {movement.expected_count} piece(s) expected"
    return (f"     {when:<18} [{movement.kind}] {verb} {other}: {', '.join(movement.dataset_types)} "
            f"({_restriction(movement)}{count})")


def render_explain(plan: Plan) -> str:
    """Return, per site, what it runs (groups, visits, tracts per step) and what it receives and sends, with counts.

    A piece is one (dataset type, data ID) the plan moves: a visit, an exposure,
    a tract or a (visit, tract) pair; ``whole`` means the dataset type moves
    without restriction. The archive movement is listed under the hub.
    """
    lines = [f"campaign {plan.name}: hub {plan.hub}, output {plan.output_prefix}, "
             f"{sum(len(step.groups) for step in plan.steps)} groups, {len(plan.movements)} movements"]
    for site in plan.sites:
        runs = plan.groups_at(site.code)
        receives = [m for m in plan.movements_to(site.code) if m.kind != "archive"]
        sends = [m for m in plan.movements if site.code in m.sources and m.kind != "archive"]
        lines += ["", f"== {site.code}{' (hub)' if site.code == plan.hub else ''}: {len(site.tracts)} tracts, "
                      f"{len(site.visits)} visits owned"]
        lines.append(f"   runs {len(runs)} group(s)" + (":" if runs else ""))
        for step in plan.steps:
            groups = [group for s, group in runs if s.name == step.name]
            if not groups:
                continue
            if step.level == "global":
                lines.append(f"     {step.name:<8} global: 1 group over everything")
                continue
            visits = {v for group in groups for v in group.visits}
            tracts = {t for group in groups for t in group.tracts}
            lines.append(f"     {step.name:<8} {step.level}-level: {len(groups)} group(s), {len(visits)} visits, "
                         f"{len(tracts)} tracts")
        for title, movements, verb in (("receives", receives, "from"), ("sends", sends, "to")):
            pieces = sum(m.expected_count or 0 for m in movements)
            lines.append(f"   {title} {len(movements)} movement(s), {pieces} counted pieces"
                         + (":" if movements else ""))
            for movement in movements:
                other = ", ".join(movement.sources) if verb == "from" else movement.destination
                lines.append(_movement_line(movement, verb, other))
        if site.code == plan.hub:
            for movement in plan.movements:
                if movement.kind == "archive":
                    lines.append(f"   archives {', '.join(movement.dataset_types)} to tape after "
                                 f"{', '.join(movement.after_movements) or ', '.join(movement.after_steps)}")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msproc-plan", description=__doc__)
    parser.add_argument("spec", type=Path, help="campaign spec YAML")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inventory", type=Path, help="CSV inventory (visit, exposure, band, tract)")
    source.add_argument("--butler", help="Butler repository to read the inventory from")
    parser.add_argument("--skymap", default=None, help="skymap name for --butler (default: the spec's)")
    parser.add_argument("--pipeline", default=None, help="override the spec's pipeline (path or URI)")
    parser.add_argument("--site", action="append", default=None, help="known site code (repeatable)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the plan as JSON")
    output.add_argument("--explain", action="store_true",
                        help="print per site what it runs and what it receives and sends, with counts, "
                             "then the movements step by step")
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Plan the campaign described by ``argv`` and print it; return the exit status.

    0: printed; 2: the spec is invalid (every error printed to stderr);
    1: the pipeline or inventory cannot be read or there is nothing to plan.
    """
    out = stdout or sys.stdout
    args = _parser().parse_args(argv)
    try:
        size = args.spec.stat().st_size
        if size > SPEC_MAX_BYTES:  # refused before it is read or parsed
            print(f"spec error: the spec is {size:,} bytes; at most {SPEC_MAX_BYTES:,} are accepted", file=sys.stderr)
            return 2
        text = args.spec.read_text()
        dataflow = load_dataflow(str(Path(args.pipeline).resolve())) if args.pipeline else None
        sources = PipelineSources.configured(os.environ.get("MSPROC_PIPELINES_DIR"),
                                             os.environ.get("MSPROC_PIPELINE_URI_PREFIXES", "").split(","))
        spec, dataflow = load_spec(text, known_sites=args.site, dataflow=dataflow, sources=sources)
        inventory: DataInventory
        if args.inventory is not None:
            inventory = TableInventory(args.inventory)
        else:
            inventory = ButlerInventory(args.butler, spec.instrument, args.skymap or spec.skymap)
        plan = plan_campaign(spec, inventory, dataflow)
    except SpecError as err:
        for error in err.errors:
            print(f"spec error: {error}", file=sys.stderr)
        return 2
    except (OSError, DataflowError, InventoryError, PlanningError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps(plan.to_dict(), indent=2) + "\n")
    elif args.explain:
        out.write(render_explain(plan) + "\n" + explain_movements(plan))
    else:
        out.write(render_summary(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
