from django.core.management.base import BaseCommand

from sites.services import load_sites


class Command(BaseCommand):
    help = "Create or update the four sites of DOMAIN.md (SLAC hub, IN2P3, LANCS, RAL) with queues and RSEs."

    def handle(self, *args, **options):
        report = load_sites()
        for line in report.created:
            self.stdout.write(f"created {line}")
        for line in report.updated:
            self.stdout.write(f"updated {line}")
        if not report.changed:
            self.stdout.write("sites are up to date; nothing changed")
