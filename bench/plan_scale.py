"""Planning at data-release scale on Rubin's real LSST sky map.

One command (from the repository root, after ``bash scripts/venv.sh``)::

    .venv/bin/python bench/plan_scale.py                 # 1 %, 10 %, 100 % with mock:drp
    .venv/bin/python bench/plan_scale.py --scales 0.01 0.1 --pipelines mock:drp --persist

For each scale and pipeline a fresh process builds (or reuses, under
``var/bench/plan_scale/``) a table inventory of ``230,000 x scale`` visits of a
3.5° field over the survey footprint of Rubin's ``lsst_skymap`` (package
``skymap-convert``, see :mod:`planning.skymap_survey`) and times,
in wall and CPU seconds with the process's peak RSS after each phase:

* ``read``: ``TableInventory`` reading the CSV;
* ``spec``: parsing the spec and loading the pipeline's dataflow;
* ``plan``: ``plan_campaign`` with the four sites' shares of DOMAIN.md and
  the default ``compact`` tract assignment (then again with ``id_blocks``);
* ``replan``: the plan after LANCS goes offline and its tracts go to IN2P3
  (what ``reassign_site_groups`` plans);
* ``explain``: the per-site receive/send summary (``plan_campaign --explain``);
* ``persist`` (``--persist``): ``create_campaign_from_spec`` into a
  PostgreSQL database of its own (created and dropped by the bench).

It then prints, per site, what it must receive and send (data IDs and
dataset types per movement kind), the exchange volume of both tract
assignments beside the geometric floor, the largest rendered BPS submit
YAML, and whether time and memory grow near-linearly with the input. At
every scale it also prints the exchange and the visits each site owns
(against its share) under the other visit assignments (:data:`VARIANTS`:
the old ``lowest_tract`` rule, ``hub_first``), planned after the timed
phases, one plan at a time.
Targets (docs/benchmarks.md): full scale planned in <= 10 s and <= 1 GB peak
RSS, persisted in <= 30 s, re-planned in <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SITES = ("SLAC", "IN2P3", "LANCS", "RAL")
SHARES = {"SLAC": 0.35, "IN2P3": 0.40, "LANCS": 0.10, "RAL": 0.15}
FIELD_DIAMETER = 3.5
DEC_RANGE = (-70.0, 10.0)
TARGETS = {"plan": 10.0, "replan": 10.0, "persist": 30.0}
PIPELINE_SPECS = {
    # pipeline -> (template file, the name of its first step); the template's tract_map is dropped
    "mock:drp": "2x4.yaml",
    "mock:lsstcam-drp": "lsstcam-2x4.yaml",
}


def spec_text(pipeline: str, name: str, assignment: str = "compact", tract_map: dict | None = None,
              visits: str | None = None) -> str:
    import yaml

    template = REPO / "planning" / "templates" / PIPELINE_SPECS[pipeline]
    document = yaml.safe_load(template.read_text())
    document.pop("tract_map", None)
    document.update(
        name=name,
        output_prefix=f"u/bench/{name}",
        sites=[{"code": code, "share": SHARES[code]} for code in SITES],
        tract_assignment=assignment,
        instrument="LSSTCam",
        skymap="lsst_cells_v1",
    )
    if visits is not None:
        document["visit_assignment"] = visits
    if tract_map is not None:
        document["tract_map"] = tract_map
        document["sites"] = sorted(set(tract_map.values()) | {document["hub"]})
        document.pop("tract_assignment")
    return yaml.safe_dump(document, sort_keys=False)


# -- one measured run (a process of its own) -----------------------------------------------------


class Clock:
    """Wall and CPU seconds of a phase and the process's peak RSS after it."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, float]] = {}

    def phase(self, name: str):
        clock = self

        class _Phase:
            def __enter__(self):
                self.wall, self.cpu = time.perf_counter(), time.process_time()
                return self

            def __exit__(self, *exc):
                clock.figures[name] = {
                    "wall_s": time.perf_counter() - self.wall,
                    "cpu_s": time.process_time() - self.cpu,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }

        return _Phase()


def inventory_path(scale: float) -> Path:
    from planning.skymap_survey import load_lsst_skymap, make_survey, write_csv

    path = REPO / "var" / "bench" / "plan_scale" / f"inventory-{scale:g}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(make_survey(load_lsst_skymap(), scale, field_diameter=FIELD_DIAMETER, dec_range=DEC_RANGE), path)
    return path


def exchange(plan) -> dict[str, dict]:
    """Return per site: pieces (of them, tract-only pieces) and distinct visits it receives by exchange,
    and the visits it owns."""
    out: dict[str, dict] = {}
    owned = {site.code: len(site.visits) for site in plan.sites}
    for site in plan.sites:
        pieces = tract_pieces = 0
        visits: set[int] = set()
        for movement in plan.movements:
            if movement.kind != "exchange" or movement.destination != site.code:
                continue
            pieces += movement.expected_count or 0
            if not ({"visit", "exposure"} & movement.data_ids.keys()):
                tract_pieces += movement.expected_count or 0
            visits.update(movement.data_ids.get("visit", ()))
            visits.update(movement.data_ids.get("exposure", ()))
        out[site.code] = {"pieces": pieces, "tract_pieces": tract_pieces, "visits": len(visits),
                          "own_visits": owned[site.code]}
    return out


#: (tract assignment, visit assignment) of the plans whose exchange is compared; the first two are the
#: timed plans (the default visit rule), the others are planned after the timed phases, one at a time.
VARIANTS = {
    "compact": ("compact", None),
    "id_blocks": ("id_blocks", None),
    "id_blocks/lowest_tract": ("id_blocks", "lowest_tract"),
    "compact/lowest_tract": ("compact", "lowest_tract"),
    "compact/hub_first": ("compact", "hub_first"),
}


def per_site(plan) -> dict[str, dict]:
    """Return per site: groups it runs, and per movement kind what it receives and sends."""
    summary: dict[str, dict] = {
        site.code: {"groups": 0, "receive": {}, "send": {}, "tracts": len(site.tracts)} for site in plan.sites
    }
    for step in plan.steps:
        for group in step.groups:
            summary[group.site]["groups"] += 1
    for movement in plan.movements:
        ids = sum(len(values) for values in movement.data_ids.values())
        for side, codes in (("receive", [movement.destination]), ("send", movement.sources)):
            for code in codes:
                entry = summary.setdefault(code, {"groups": 0, "receive": {}, "send": {}, "tracts": 0})
                kind = entry[side].setdefault(movement.kind, {"movements": 0, "data_ids": 0, "dataset_types": set()})
                kind["movements"] += 1
                kind["data_ids"] += ids
                kind["dataset_types"].update(movement.dataset_types)
    for entry in summary.values():
        for side in ("receive", "send"):
            for kind in entry[side].values():
                kind["dataset_types"] = len(kind["dataset_types"])
    return summary


def largest_bps_yaml(plan) -> tuple[int, int]:
    """Return (bytes of the largest rendered BPS submit YAML, length of its data query)."""
    from planning.bps import SiteInfo, render_submit_yaml

    step, group = max(
        ((step, group) for step in plan.steps for group in step.groups), key=lambda pair: len(pair[1].data_query)
    )
    site = SiteInfo(group.site, group.site, "EU", f"/repo/{group.site}")
    text = render_submit_yaml(plan, step, group, site, pipeline_yaml="pipeline.yaml")
    return len(text.encode()), len(group.data_query)


def run_one(scale: float, pipeline: str, persist: bool) -> dict:
    from planning.inventory import TableInventory
    from planning.planner import plan_campaign
    from planning.spec import load_spec

    path = inventory_path(scale)
    clock = Clock()
    with clock.phase("read"):
        inventory = TableInventory(path)
    arrays = inventory.arrays()
    name = f"scale-{scale:g}".replace(".", "p")
    with clock.phase("spec"):
        spec, dataflow = load_spec(spec_text(pipeline, name), known_sites=SITES)
    with clock.phase("plan"):
        plan = plan_campaign(spec, inventory, dataflow)
    blocks_spec, _ = load_spec(spec_text(pipeline, name, "id_blocks"), known_sites=SITES, dataflow=dataflow)
    with clock.phase("plan_id_blocks"):
        blocks = plan_campaign(blocks_spec, inventory, dataflow)
    tract_map = {
        tract: ("IN2P3" if site.code == "LANCS" else site.code) for site in plan.sites for tract in site.tracts
    }
    replan_spec, _ = load_spec(spec_text(pipeline, name, tract_map=tract_map), known_sites=SITES, dataflow=dataflow)
    with clock.phase("replan"):
        plan_campaign(replan_spec, inventory, dataflow)
    with clock.phase("explain"):
        sites = per_site(plan)
    result = {
        "scale": scale,
        "pipeline": pipeline,
        "visits": len(arrays),
        "overlaps": int(arrays.tract_ids.size),
        "tracts": int(arrays.tracts().size),
        "groups": sum(len(step.groups) for step in plan.steps),
        "movements": len(plan.movements),
        "phases": clock.figures,
        "sites": sites,
        "exchange": {"compact": exchange(plan), "id_blocks": exchange(blocks)},
        "default_visit_assignment": spec.visit_assignment,
        "owners": {
            "compact": {str(t): site.code for site in plan.sites for t in site.tracts},
            "id_blocks": {str(t): site.code for site in blocks.sites for t in site.tracts},
        },
        "bps_yaml": largest_bps_yaml(plan),
    }
    del plan, blocks
    for variant, (tracts, visits) in VARIANTS.items():
        if variant not in result["exchange"]:
            variant_spec, _ = load_spec(spec_text(pipeline, name, tracts, visits=visits), known_sites=SITES,
                                        dataflow=dataflow)
            result["exchange"][variant] = exchange(plan_campaign(variant_spec, inventory, dataflow))
    if persist:
        result["phases"].update(persist_plan(spec_text(pipeline, name), inventory))
    return result


def persist_plan(text: str, inventory) -> dict[str, dict[str, float]]:
    import django

    django.setup()
    from campaigns.services import create_campaign_from_spec

    clock = Clock()
    with clock.phase("persist"):
        create_campaign_from_spec(f"bench-{time.time_ns()}", text, inventory=inventory)
    return clock.figures


# -- the parent: runs, tables, verdicts --------------------------------------------------------------


def geometric_floor(owners: dict[str, str], scale: float, visits: int) -> dict[str, float]:
    """Return per site the boundary length (deg) x field diameter x visit density: visits straddling it."""
    import numpy as np

    from planning.skymap_survey import load_lsst_skymap

    skymap = load_lsst_skymap()
    owner = {int(t): code for t, code in owners.items()}
    length = dict.fromkeys(set(owner.values()), 0.0)
    ring_of = np.round(skymap.dec_min, 6)
    rings = np.unique(ring_of)
    members = [np.flatnonzero(ring_of == ring) for ring in rings]
    members = [ring[np.argsort(skymap.ra_min[ring] % 360.0)] for ring in members]
    for index, ring in enumerate(members):
        height = float(skymap.dec_max[ring[0]] - skymap.dec_min[ring[0]])
        for a, b in zip(ring.tolist(), np.roll(ring, -1).tolist(), strict=True):
            if a in owner and b in owner and owner[a] != owner[b]:
                length[owner[a]] += height
                length[owner[b]] += height
        if index + 1 == len(members):
            continue
        upper = members[index + 1]
        edge_dec = np.radians(skymap.dec_max[ring[0]])
        for a in ring.tolist():
            if a not in owner:
                continue
            lo, hi = skymap.ra_min[a] % 360.0, (skymap.ra_min[a] % 360.0) + (skymap.ra_max[a] - skymap.ra_min[a]) % 360
            for b in upper.tolist():
                if b not in owner or owner[a] == owner[b]:
                    continue
                blo = skymap.ra_min[b] % 360.0
                bhi = blo + (skymap.ra_max[b] - skymap.ra_min[b]) % 360
                overlap = max(0.0, min(hi, bhi) - max(lo, blo))
                if overlap:
                    length[owner[a]] += overlap * np.cos(edge_dec)
                    length[owner[b]] += overlap * np.cos(edge_dec)
    area = 360.0 * scale * (180 / np.pi) * (np.sin(np.radians(DEC_RANGE[1])) - np.sin(np.radians(DEC_RANGE[0])))
    density = visits / area
    return {code: value * FIELD_DIAMETER * density for code, value in length.items()}


def print_table(results: list[dict]) -> None:
    print("\n== time and memory (wall s / CPU s / peak RSS MB after the phase)")
    phases = ["read", "spec", "plan", "plan_id_blocks", "replan", "explain", "persist"]
    header = f"{'pipeline':18} {'scale':>6} {'visits':>8} {'overlaps':>9} {'tracts':>7} {'groups':>7} {'moves':>6}"
    print(header + "".join(f" {p:>22}" for p in phases))
    for r in results:
        row = (
            f"{r['pipeline']:18} {r['scale']:>6g} {r['visits']:>8} {r['overlaps']:>9} {r['tracts']:>7}"
            f" {r['groups']:>7} {r['movements']:>6}"
        )
        for p in phases:
            f = r["phases"].get(p)
            row += f" {'-':>22}" if f is None else f" {f['wall_s']:>7.2f}/{f['cpu_s']:>6.2f}/{f['peak_rss_mb']:>6.0f}"
        print(row)


def print_sites(result: dict) -> None:
    print(f"\n== per site at scale {result['scale']:g} ({result['pipeline']}): what it runs, receives and sends")
    for code, entry in result["sites"].items():
        print(f"  {code}: {entry['tracts']} tracts, {entry['groups']} groups")
        for side in ("receive", "send"):
            for kind, figures in sorted(entry[side].items()):
                print(
                    f"    {side:7} {kind:9} {figures['movements']:>3} movements, {figures['data_ids']:>9} data IDs,"
                    f" {figures['dataset_types']:>3} dataset types"
                )


def print_exchange(result: dict) -> bool:
    print(f"\n== exchange at scale {result['scale']:g}: visit-level pieces each site receives for boundary visits")
    floors = {
        rule: geometric_floor(result["owners"][rule], result["scale"], result["visits"])
        for rule in ("compact", "id_blocks")
    }
    default = result.get("default_visit_assignment", "?")
    print(f"  (compact, id_blocks: with the default visit_assignment, {default})")
    ok = True
    print(f"  {'site':6} {'own visits':>10} {'id_blocks':>22} {'compact':>22} {'ratio':>6} {'floor (compact)':>16}")
    for code in SITES:
        blocks, compact = result["exchange"]["id_blocks"][code], result["exchange"]["compact"][code]
        ratio = compact["pieces"] / blocks["pieces"] if blocks["pieces"] else 0.0
        ok &= ratio <= 0.5 or blocks["pieces"] == 0
        print(
            f"  {code:6} {compact['own_visits']:>10} {blocks['pieces']:>10} ({blocks['visits']:>7} v)"
            f" {compact['pieces']:>10} ({compact['visits']:>7} v) {ratio:>6.2f}"
            f" {floors['compact'].get(code, 0.0):>10.0f} v"
        )
    print(f"  target: compact <= half of id_blocks at every site: {'met' if ok else 'NOT met'}")
    return ok


def print_variants(result: dict) -> None:
    """Print, per (tract, visit) assignment, the pieces each site receives and the visits it owns."""
    variants = [name for name in VARIANTS if name in result["exchange"]]
    total_share = sum(SHARES.values())
    print(f"\n== exchange by visit assignment at scale {result['scale']:g}: pieces received (of them tract"
          " pieces) / visits owned (deviation from the site's share)")
    print(f"  {'site':6}" + "".join(f" {name:>34}" for name in variants))
    for code in [*SITES, "total"]:
        row = f"  {code:6}"
        for name in variants:
            figures = result["exchange"][name]
            if code == "total":
                pieces = sum(f["pieces"] for f in figures.values())
                tract = sum(f["tract_pieces"] for f in figures.values())
                row += f" {pieces:>9} ({tract:>5}) {'':18}"
                continue
            entry = figures[code]
            owned = sum(f["own_visits"] for f in figures.values())
            deviation = 100 * (entry["own_visits"] / owned - SHARES[code] / total_share) if owned else 0.0
            row += f" {entry['pieces']:>9} ({entry['tract_pieces']:>5}) {entry['own_visits']:>8} ({deviation:+5.1f}%)"
        print(row)


def growth(results: list[dict], phase: str) -> list[str]:
    lines = []
    ordered = sorted(results, key=lambda r: r["scale"])
    for small, large in zip(ordered, ordered[1:], strict=False):
        size = large["overlaps"] / max(small["overlaps"], 1)
        took = large["phases"][phase]["cpu_s"] / max(small["phases"][phase]["cpu_s"], 1e-3)
        verdict = "near-linear" if took <= 2.0 * size else "SUPER-LINEAR"
        lines.append(
            f"  {phase:8} {small['scale']:g} -> {large['scale']:g}: input x{size:.1f}, CPU x{took:.1f} ({verdict})"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument("--pipelines", nargs="+", default=["mock:drp"], choices=sorted(PIPELINE_SPECS))
    parser.add_argument("--persist", action="store_true", help="also persist each plan into PostgreSQL")
    parser.add_argument("--database", default="msproc_plan_bench")
    parser.add_argument("--one", nargs=2, metavar=("SCALE", "PIPELINE"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msproc.settings")
    if args.one:
        print(json.dumps(run_one(float(args.one[0]), args.one[1], args.persist)))
        return 0

    env = dict(os.environ)
    if args.persist:
        env.update(_bench_database(args.database))
    results = []
    for pipeline in args.pipelines:
        for scale in args.scales:
            inventory_path(scale)  # built outside the measured process
            command = [sys.executable, __file__, "--one", str(scale), pipeline]
            if args.persist:
                command.append("--persist")
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                print(done.stdout, done.stderr, file=sys.stderr)
                return done.returncode
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"   done: {pipeline} at {scale:g}", flush=True)
    if args.persist:
        _drop_database(args.database)
    print_table(results)
    ok = True
    for result in results:
        if result["scale"] == max(args.scales):
            print_sites(result)
            ok &= print_exchange(result)
            size, query = result["bps_yaml"]
            print(f"\n== largest BPS submit YAML at scale {result['scale']:g}: {size} bytes (data query {query} chars)")
    for result in results:
        print_variants(result)
    print("\n== growth (CPU time against visit-tract overlaps)")
    for pipeline in args.pipelines:
        mine = [r for r in results if r["pipeline"] == pipeline]
        for phase in ("read", "plan", "replan"):
            for line in growth(mine, phase):
                print(line)
                ok &= "SUPER" not in line
    print("\n== targets at the largest scale")
    for result in results:
        if result["scale"] != max(args.scales):
            continue
        for phase, target in TARGETS.items():
            figures = result["phases"].get(phase)
            if figures:
                met = figures["wall_s"] <= target
                ok &= met
                verdict = "met" if met else "NOT met"
                print(f"  {result['pipeline']} {phase}: {figures['wall_s']:.2f} s (target {target:g} s) {verdict}")
        rss = result["phases"]["plan"]["peak_rss_mb"]
        ok &= rss <= 1024
        verdict = "met" if rss <= 1024 else "NOT met"
        print(f"  {result['pipeline']} peak RSS after planning: {rss:.0f} MB (target 1024 MB) {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0 if ok else 1


def _bench_database(name: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    # production settings refuse a weak key (msproc/env.py): a fresh one per run
    env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}", "DEBUG": "false",
           "SECRET_KEY": secrets.token_urlsafe(50)}
    subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "migrate", "-v", "0"], env={**os.environ, **env}, check=True
    )
    subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "load_sites"], env={**os.environ, **env}, check=True,
        capture_output=True,
    )
    return env


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
