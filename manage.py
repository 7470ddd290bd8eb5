#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # The settings say what is missing (DJANGO_SECRET_KEY, say, or DJANGO_DEBUG=1 in a checkout); a
        # traceback through Django's start-up would only bury that line.
        sys.exit(f"manage.py: {exc}")


if __name__ == "__main__":
    main()
