from django.core.management.base import BaseCommand

from sites.services import load_sites, setup_local_sites


class Command(BaseCommand):
    help = ("Create each site's local Butler repository (embedded default): the hub gets the synthetic survey's "
            "raws and defaults. --rinse tears every repository down and rebuilds it from scratch.")

    def add_arguments(self, parser):
        parser.add_argument("--rinse", action="store_true", help="tear down and rebuild every repository")

    def handle(self, *args, rinse=False, **options):
        load_sites()
        for site, outcome in setup_local_sites(rinse=rinse).items():
            self.stdout.write(f"{site}: {outcome}")
