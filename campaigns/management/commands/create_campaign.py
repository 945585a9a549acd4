from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.services import create_campaign_from_spec
from planning.spec import SPEC_MAX_BYTES, SpecError


class Command(BaseCommand):
    help = "Plan a spec and save it as a campaign (waiting); --start starts it."

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path of the spec YAML")
        parser.add_argument("--name", help="campaign name (default: the spec's name)")
        parser.add_argument("--start", action="store_true", help="start the campaign right away")

    def handle(self, *args, spec, name=None, start=False, **options):
        try:
            size = Path(spec).stat().st_size
            if size > SPEC_MAX_BYTES:  # refused before it is read or parsed
                raise CommandError(f"{spec} is {size:,} bytes; a spec may have at most {SPEC_MAX_BYTES:,}")
            text = Path(spec).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {spec}: {exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{spec} is not UTF-8 text") from None
        try:
            campaign = create_campaign_from_spec(name, text)
        except SpecError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(f"the spec has {len(exc.errors)} error(s); nothing was saved") from None
        if start:
            campaign.start(comment="create_campaign --start")
        self.stdout.write(f"campaign {campaign.name} (id {campaign.pk}) is {campaign.status}: "
                          f"{campaign.groups.count()} groups, {campaign.movements.count()} movements")
