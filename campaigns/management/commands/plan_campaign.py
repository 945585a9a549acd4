import json as _json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.services import build_plan
from planning.cli import explain_movements, render_explain, render_summary
from planning.spec import SpecError


class Command(BaseCommand):
    help = ("Plan a campaign spec (YAML file, or - for stdin) without saving: per-site summary, --explain (per site: "
            "what it runs, receives and sends, with counts) or --json.")

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path of the spec YAML, or - for standard input")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--json", action="store_true", help="print the plan as JSON")
        output.add_argument("--explain", action="store_true",
                            help="print per site what it runs and what it must receive and send, with counts, "
                                 "then the movements step by step")

    def handle(self, *args, spec, **options):
        as_json = options["json"]
        text = sys.stdin.read() if spec == "-" else _read(spec)
        try:
            _, _, plan = build_plan(text)
        except SpecError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"the spec has {len(exc.errors)} error(s)") from None
        if as_json:
            self.stdout.write(_json.dumps(plan.to_dict(), indent=2, sort_keys=False))
        elif options["explain"]:
            self.stdout.write(render_explain(plan) + "\n" + explain_movements(plan))
        else:
            self.stdout.write(render_summary(plan))


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
