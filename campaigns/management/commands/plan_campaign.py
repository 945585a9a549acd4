import json as _json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.services import build_plan
from msproc.lib.planning.cli import explain_movements, render_summary
from msproc.lib.planning.spec import SpecError


class Command(BaseCommand):
    help = "Plan a campaign spec (YAML file, or - for stdin) without saving: per-site summary or --json."

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path of the spec YAML, or - for standard input")
        parser.add_argument("--json", action="store_true", help="print the plan as JSON")
        parser.add_argument(
            "--explain", action="store_true", help="print the movements step by step, by real dataset type name"
        )

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
            self.stdout.write(explain_movements(plan))
        else:
            self.stdout.write(render_summary(plan))


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
