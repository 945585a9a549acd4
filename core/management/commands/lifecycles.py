"""Print (or write to docs/lifecycles.md) the lifecycles generated from the models' TRANSITIONS tables."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from core.diagrams import lifecycles_markdown


class Command(BaseCommand):
    help = "Print the lifecycle of every stateful model (from TRANSITIONS); --write updates docs/lifecycles.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--write", action="store_true", help="Write docs/lifecycles.md instead of printing.")

    def handle(self, *args, write: bool = False, **options) -> None:
        text = lifecycles_markdown()
        if not write:
            self.stdout.write(text, ending="")
            return
        path = Path(settings.BASE_DIR) / "docs" / "lifecycles.md"
        path.write_text(text)
        self.stdout.write(f"wrote {path}")
