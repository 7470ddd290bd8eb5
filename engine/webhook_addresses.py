"""Where webhooks may connect: public addresses only, checked when a URL is saved and again, after DNS
resolution, on every connection (so a name that later resolves to an inside address is still refused, and
the socket goes to the very address that was checked).

Loopback, private, link-local (the cloud metadata service at 169.254.169.254 among them), shared, reserved,
multicast and unspecified addresses are refused unless PHASEGATE_WEBHOOK_ALLOW_PRIVATE is on (tests, or a
receiver inside the same network on purpose).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


class AddressRefused(OSError):
    """The webhook's host is, or resolves to, an address webhooks may not reach."""


def private_allowed() -> bool:
    return bool(settings.PHASEGATE.get("WEBHOOK_ALLOW_PRIVATE", False))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _refusal(host: str, address: str) -> AddressRefused:
    shown = host if host == address else f"{host} ({address})"
    return AddressRefused(f"refused: {shown} is not a public address")


def check_host(host: str, *, resolve: bool) -> None:
    """Raise AddressRefused when `host` is, or (with `resolve`) resolves to, a non-public address.

    A name that does not resolve passes when saving (it may exist later); connecting needs it to resolve.
    """
    if private_allowed():
        return
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        if not is_public(str(literal)):
            raise _refusal(host, str(literal))
        return
    if resolve:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return
        for *_, sockaddr in infos:
            if not is_public(sockaddr[0]):
                raise _refusal(host, sockaddr[0])


def check_url(url: str) -> None:
    """At save: refuse a URL whose host is, or now resolves to, a non-public address."""
    host = urlsplit(url).hostname or ""
    check_host(host, resolve=True)


_DEFAULT_TIMEOUT: Any = socket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]


def guarded_connection(
    address: tuple[str, int], timeout: Any = _DEFAULT_TIMEOUT, source_address: Any = None, **_: Any
) -> socket.socket:
    """`socket.create_connection` that resolves once, refuses non-public addresses, and connects to the
    address it checked (no second lookup a rebinding DNS server could answer differently)."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not private_allowed():
        for *_, sockaddr in infos:
            if not is_public(sockaddr[0]):
                raise _refusal(host, sockaddr[0])
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"cannot connect to {host}:{port}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    # TLS still verifies the certificate against the host name: only the socket's address is pinned.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_connection


class GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_GuardedHTTPConnection, req)


class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)
