"""Links that leave the site (mail, webhooks): absolute, from PHASEGATE_BASE_URL.

A page links relatively; a message read in a mail client has no page to be relative to.
"""

from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    """`path` (from `reverse`) on the deployment's public address, e.g. https://flows.example.com/inbox/."""
    base = (getattr(settings, "PHASEGATE_BASE_URL", "") or "").rstrip("/")
    return f"{base}{path}" if base else path
