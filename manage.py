#!/usr/bin/env python
"""Django's command-line utility for msproc."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "msproc.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a bad environment: say which variable, not a traceback
        sys.exit(f"msproc cannot start: {exc}")


if __name__ == "__main__":
    main()
