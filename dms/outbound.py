"""Requests to other people's servers (webhooks): to the public internet only.

A URL is checked when it is saved and again on every request: https only, and every address its
host resolves to must be a public one (no private, loopback, link-local, shared, reserved,
multicast or unspecified address, IPv4 or IPv6). The request then connects to the very address
that was checked, so a name that resolves differently a moment later (DNS rebinding) cannot steer
it inside; TLS still verifies the certificate against the host name (SNI) and the Host header
carries the name. Redirects are never followed, the answer is read up to `MAX_RESPONSE_BYTES` and
the whole exchange is bounded in time.

Tests cannot reach the internet: `settings.OUTBOUND_ALLOWED_NETWORKS` lists networks to allow in
spite of the rules above and `settings.OUTBOUND_ALLOW_HTTP` lets plain http through. Both are for
tests only, empty/False by default, and never set in production.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

TIMEOUT_SECONDS = 10
MAX_RESPONSE_BYTES = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedURL(ValueError):
    """The URL may not be requested; the message says why (shown to the person who saved it)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str
    body: bytes = b""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(n, strict=False)
        for n in getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", [])
    ]


def address_is_public(address: IPAddress) -> bool:
    """True for an address on the public internet (the `ipaddress` module's ranges)."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return address_is_public(mapped)
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def address_allowed(address: IPAddress) -> bool:
    return address_is_public(address) or any(address in n for n in _allowed_networks())


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(_("This is not a valid URL.")) from exc
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if getattr(settings, "OUTBOUND_ALLOW_HTTP", False) else ("https",)
    if scheme not in allowed:
        raise RefusedURL(_("Only https:// URLs are allowed."))
    if not parts.hostname:
        raise RefusedURL(_("The URL has no host."))
    if parts.username or parts.password:
        raise RefusedURL(_("The URL may not contain a user name or password."))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedURL(_("The host name %(host)s cannot be resolved.") % {"host": host}) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedURL(_("The host name %(host)s cannot be resolved.") % {"host": host})
    return addresses


def check_url(url: str) -> Target:
    """Resolve the URL's host once and check every address; the target pins the first one.
    Raises `RefusedURL` with a message a person can act on."""
    scheme, host, port, path = _split(url)
    addresses = _resolve(host, port)
    refused = [a for a in addresses if not address_allowed(a)]
    if refused:
        raise RefusedURL(
            _(
                "%(host)s resolves to %(address)s, which is not a public internet address; "
                "webhooks are sent to the public internet only."
            )
            % {"host": host, "address": refused[0]}
        )
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=getattr(settings, "OUTBOUND_CA_FILE", None))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header keeps the name."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; SNI, the certificate check and Host keep the name."""

    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=_tls_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float = TIMEOUT_SECONDS,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Answer:
    """POST `body` to `url` if it passes `check_url` now. Never raises for the network: the
    answer carries the status (None when there was none) and an error text for the log. A 3xx
    is an answer like any other (not followed)."""
    try:
        target = check_url(url)
    except RefusedURL as exc:
        return Answer(status=None, error=str(exc)[:300])
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    deadline = time.monotonic() + timeout
    connection = cls(target, timeout=timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        received = b""
        while len(received) < max_bytes:
            if time.monotonic() > deadline:
                return Answer(status=None, error="timed out reading the answer")
            chunk = response.read1(min(8192, max_bytes - len(received)))
            if not chunk:
                break
            received += chunk
        status = response.status
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Answer(status=None, error=(str(exc) or exc.__class__.__name__)[:300])
    finally:
        connection.close()
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return Answer(status=status, error=error, body=received)
