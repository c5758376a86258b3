"""SSRF guard for outbound webhooks.

A webhook URL is typed by a user (or arrives in a config someone else wrote), so a delivery must
not become a way to reach the studio's router, a cloud metadata service or localhost. The check
runs at delivery time on the addresses the name resolves to *then*, and the request is sent to
the address that was checked (Host header and TLS SNI keep the name), so a DNS answer that
changes between the check and the connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


class DestinationRefused(Exception):
    """The webhook URL may not be called; ``str(exc)`` says why in one clause."""


@dataclass(frozen=True)
class Destination:
    url: str            # the URL to connect to (host replaced by the checked IP)
    host: str           # the original host name, for the Host header and TLS SNI
    ip: str
    host_header: str


def _why_not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        # most specific first: is_private also covers loopback, link-local, reserved ...
        ("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified), ("reserved", ip.is_reserved), ("private", ip.is_private),
    )
    for name, hit in checks:
        if hit:
            return name
    if not ip.is_global:
        return "non-public"
    return None


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationRefused(f"the host {host!r} does not resolve ({exc})") from None
    out: list[str] = []
    for info in infos:
        addr = info[4][0].split("%", 1)[0]
        if addr not in out:
            out.append(addr)
    if not out:
        raise DestinationRefused(f"the host {host!r} does not resolve")
    return out


def check_destination(url: str, *, allow_private: bool = False, resolver=resolve) -> Destination:
    """Resolve ``url``'s host and refuse private/loopback/link-local/multicast/reserved targets.

    Every address the name resolves to must pass (an attacker controlling DNS could otherwise
    return one public and one private address).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused(f"the URL scheme {parts.scheme!r} is not http or https")
    host = parts.hostname
    if not host:
        raise DestinationRefused("the URL has no host")
    if parts.username or parts.password:
        raise DestinationRefused("the URL carries a user name or password; put secrets in the keyring instead")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
        addresses = [str(literal)]
    except ValueError:
        addresses = resolver(host, port)
    if not allow_private:
        for addr in addresses:
            why = _why_not_public(ipaddress.ip_address(addr))
            if why:
                shown = host if host == addr else f"{host} ({addr})"
                raise DestinationRefused(f"{shown} is a {why} address")
    ip = addresses[0]
    netloc_ip = f"[{ip}]" if ":" in ip else ip
    default_port = (parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)
    netloc = netloc_ip if default_port else f"{netloc_ip}:{port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return Destination(url=pinned, host=host, ip=ip, host_header=host_header)
