"""Command line: plan a campaign from a spec and an inventory, print JSON or a per-site summary.

``python -m msproc.lib.planning.cli SPEC --inventory visits.csv [--json]``;
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
from .planner import Plan, PlanningError, plan_campaign
from .spec import SPEC_MAX_BYTES, SpecError, load_spec

__all__ = ["explain_movements", "main", "render_summary"]


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msproc-plan", description=__doc__)
    parser.add_argument("spec", type=Path, help="campaign spec YAML")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inventory", type=Path, help="CSV inventory (visit, exposure, band, tract)")
    source.add_argument("--butler", help="Butler repository to read the inventory from")
    parser.add_argument("--skymap", default=None, help="skymap name for --butler (default: the spec's)")
    parser.add_argument("--pipeline", default=None, help="override the spec's pipeline (path or URI)")
    parser.add_argument("--site", action="append", default=None, help="known site code (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--explain", action="store_true", help="print the movements step by step")
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
        out.write(explain_movements(plan))
    else:
        out.write(render_summary(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
