"""Who may scrape /metrics: a bearer token or an allowed address (PHASEGATE_METRICS_TOKEN / _ALLOWED_IPS)."""

from __future__ import annotations

import hmac
import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest

LOOPBACK = ("127.0.0.0/8", "::1/128")


@cache
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed)


def _allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    config = settings.PHASEGATE_METRICS
    allowed = tuple(config["ALLOWED_IPS"])
    if not allowed and not config["TOKEN"]:
        allowed = LOOPBACK  # nothing configured: this machine only
    return _networks(allowed)


def token_matches(request: HttpRequest) -> bool:
    token = settings.PHASEGATE_METRICS["TOKEN"]
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def address_allowed(request: HttpRequest) -> bool:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says.
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def may_scrape(request: HttpRequest) -> bool:
    return token_matches(request) or address_allowed(request)


DASHBOARD_PERMISSION = "engine.view_dashboard"


def may_see_dashboard(user: object) -> bool:
    """The dashboard and /api/metrics/: staff, or anyone given engine.view_dashboard."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return bool(getattr(user, "is_staff", False) or user.has_perm(DASHBOARD_PERMISSION))  # type: ignore[attr-defined]
