"""Where webhooks may be sent: only to https URLs whose host resolves to public addresses, so
that a subscription cannot make the CRM call into its own network (SSRF). Every address the host
resolves to is checked, when the subscription is made or changed and again before every
delivery (a DNS answer that changed since, "DNS rebinding", is refused then), and the delivery
connects to the very address that was checked (`pinned`), so that no second DNS answer slips in
between the check and the connection.

`CRM_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true` lifts both rules (http, and loopback, private,
link-local and other non-public addresses), for tests and labs."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from domain.errors import InvalidField

Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the addresses the host resolves to."""


class UnsafeUrl(InvalidField):
    """A webhook URL the CRM does not send to."""

    kind = "unsafe_url"


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local, ...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool, resolver: Resolver = resolve, field: str = "url") -> list[str]:
    """Refuse (UnsafeUrl naming `field`) a URL the CRM must not send to; see the module. Returns
    the public addresses its host resolved to (none when private networks are allowed: then
    nothing is resolved here)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl(field, "must be an absolute https URL")
    if parts.scheme != "https" and not allow_private:
        raise UnsafeUrl(field, "must be https")
    if parts.username or parts.password:
        raise UnsafeUrl(field, "must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl(field, "has a port that is not a number") from None
    if allow_private:
        return []
    try:
        addresses = resolver(parts.hostname, port)
    except (OSError, UnicodeError):
        raise UnsafeUrl(field, f"its host {parts.hostname!r} does not resolve") from None
    if not addresses:
        raise UnsafeUrl(field, f"its host {parts.hostname!r} does not resolve")
    refused = [address for address in addresses if not is_public(address)]
    if refused:
        raise UnsafeUrl(field, f"its host resolves to a loopback, private or link-local address ({', '.join(refused)})")
    return list(addresses)


@dataclass(frozen=True)
class Pinned:
    """A request to send to one checked address: its URL naming the address, the Host header and
    the TLS server name of the original host (so the certificate is checked against the host)."""

    url: str
    host_header: str | None
    server_name: str | None


def pinned(url: str, addresses: Sequence[str]) -> Pinned:
    """The request for `url` made to the first of its checked `addresses` (unchanged without any)."""
    parts = urlsplit(url)
    if not addresses or parts.hostname is None:
        return Pinned(url, None, None)
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return Pinned(urlunsplit(parts._replace(netloc=netloc)), host_header, parts.hostname)
