from django.core.management.base import BaseCommand

from campaigns.services import load_error_rules, load_templates


class Command(BaseCommand):
    help = ("Create the shipped campaign templates (2x4, 2x2) and the default error rules if they are missing; "
            "existing ones are left as they are.")

    def handle(self, *args, **options):
        for template in load_templates():
            self.stdout.write(f"template {template}")
        for rule in load_error_rules():
            self.stdout.write(f"error rule {rule.name}: {rule.action}")
