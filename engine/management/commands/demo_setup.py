"""manage.py demo_setup: load and publish the example templates, create the demo users."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from fixtures.demo_users import ensure_demo_users


class Command(BaseCommand):
    help = "Load and publish the example templates and create one demo user per role."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("load_templates", publish=True, stdout=self.stdout, stderr=self.stderr)
        users = ensure_demo_users()
        self.stdout.write("\nDemo users (username / password / roles):")
        for username, password, groups in users:
            self.stdout.write(f"  {username:<10} {password:<16} {', '.join(groups) or '-'}")
