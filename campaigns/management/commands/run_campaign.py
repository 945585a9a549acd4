import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.models import Campaign, Group
from campaigns.services import create_campaign_from_spec
from campaigns.verification import verify_campaign
from planning.spec import SPEC_MAX_BYTES, SpecError
from transfers.models import Movement


class Command(BaseCommand):
    help = ("Create a campaign from a spec, start it, and wait for it to finish (a Celery worker with beat must be "
            "running), printing progress; then check every site's repository against the plan.")

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path of the spec YAML")
        parser.add_argument("--name", help="campaign name (default: the spec file's name and a timestamp, "
                                           "e.g. 2x4-20261130-023233)")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait (default 3600)")

    def handle(self, *args, spec, name=None, timeout=3600, **options):
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
            campaign = create_campaign_from_spec(name or f"{Path(spec).stem[:24]}-{timezone.now():%Y%m%d-%H%M%S}", text)
        except SpecError as exc:
            raise CommandError("\n".join(str(e) for e in exc.errors)) from None
        campaign.start(comment="run_campaign")
        self.stdout.write(f"campaign {campaign.name}: {campaign.groups.count()} groups, "
                          f"{campaign.movements.count()} movements; running")
        started = time.monotonic()
        while campaign.status not in {"accepted", "rejected", "failed"}:
            if time.monotonic() - started > timeout:
                raise CommandError(f"campaign {campaign.name} still {campaign.status} after {timeout} s")
            time.sleep(5)
            campaign = Campaign.objects.get(pk=campaign.pk)
            groups = Counter(Group.objects.filter(campaign=campaign).values_list("status", flat=True))
            moves = Counter(Movement.objects.filter(campaign=campaign).values_list("status", flat=True))
            self.stdout.write(f"{time.monotonic() - started:6.0f}s {campaign.status}: groups {dict(groups)} "
                              f"movements {dict(moves)}")
        if campaign.status != "accepted":
            raise CommandError(f"campaign {campaign.name} ended {campaign.status}")
        problems = verify_campaign(campaign)
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} problem(s) in the sites' repositories")
        self.stdout.write(self.style.SUCCESS(
            f"campaign {campaign.name} accepted in {time.monotonic() - started:.0f} s; every site holds exactly "
            "what the plan moved to it plus what it produced; returned outputs zipped, ingested and archived"))
