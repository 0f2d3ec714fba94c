"""Where outbound webhooks may go: public addresses only, unless MOF_WEBHOOK_ALLOWED_NETWORKS
names the target. A subscription URL is checked when it is saved, and again at every
delivery, because what a name resolves to can change in between (DNS rebinding): a
delivery resolves the name once, checks every address it got, and connects to the
address it checked (the Host header and TLS server name still carry the name), so no
second lookup can swap the address between the check and the connection.

MOF_WEBHOOK_ALLOWED_NETWORKS is a comma-separated list of CIDRs (`10.20.0.0/16`,
`127.0.0.0/8`, `fd00::/8`) and host names (`bridge`, `hooks.corp.example`): an address
inside a listed network, or a URL whose host is a listed name (whatever it resolves to),
is allowed although it is internal. Default: empty (public addresses only)."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The shared address space of carrier-grade NAT: not "private" for ipaddress, yet not public.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class Refused(Exception):
    """The target is an internal address that the allow-list does not name."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as sent in the Host header and as the TLS server name (IDNA, lower case)
    port: int
    path: str  # path and query
    addresses: tuple  # the checked addresses, tried in turn


# --- the allow-list ------------------------------------------------------------------


@lru_cache(maxsize=8)
def _parse_allowed(entries: tuple) -> tuple[tuple, frozenset]:
    networks, names = [], set()
    for entry in entries:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        labels = entry.split(".")
        if (
            "/" in entry
            or labels[-1].isdigit()
            or not all(label and all(c.isalnum() or c == "-" for c in label) for label in labels)
        ):
            raise ImproperlyConfigured(
                f"MOF_WEBHOOK_ALLOWED_NETWORKS: {entry!r} is neither a CIDR (10.0.0.0/8) nor a host name."
            )
        names.add(entry)
    return tuple(networks), frozenset(names)


def allowed() -> tuple[tuple, frozenset]:
    """(networks, host names) of MOF_WEBHOOK_ALLOWED_NETWORKS (a list, or one comma-separated string)."""
    value = getattr(settings, "MOF_WEBHOOK_ALLOWED_NETWORKS", ()) or ()
    if isinstance(value, str):
        value = value.split(",")
    return _parse_allowed(tuple(str(v) for v in value))


def check_allowed_setting(app_configs=None, **kwargs) -> list:
    """System check: a mistyped entry is reported at start-up, not at the first delivery."""
    from django.core import checks

    try:
        allowed()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="integrations.E001")]
    return []


def _name_allowed(host: str) -> bool:
    return host.lower().rstrip(".") in allowed()[1]


def _address_allowed(ip) -> bool:
    embedded = _embedded_ipv4(ip)
    return any(ip in net or (embedded is not None and embedded in net) for net in allowed()[0])


# --- classifying an address ----------------------------------------------------------


def _embedded_ipv4(ip):
    """The IPv4 address an IPv6 one stands for (mapped ::ffff:a.b.c.d, 6to4, NAT64, the old
    IPv4-compatible ::a.b.c.d), which is where a connection to it really goes."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def internal_kind(ip) -> str | None:
    """Why this address is not a public one ("loopback", "private"...), or None if it is public."""
    ip = _embedded_ipv4(ip) or ip
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared (CGNAT)", ip.version == 4 and ip in CGNAT),
        ("reserved", ip.is_reserved or (ip.version == 6 and ip.is_site_local)),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


def _literal(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list:
    """Every address the host stands for (a literal address without a lookup). Raises
    OSError (socket.gaierror) when the name does not resolve, UnicodeError on a bad name."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def check(host: str, addresses) -> None:
    """Raise Refused unless every address is public or allowed (or the host name is allowed)."""
    if _name_allowed(host):
        return
    for ip in addresses:
        kind = internal_kind(ip)
        if kind and not _address_allowed(ip):
            if _literal(host) is not None:
                raise Refused(f"{host} is a {kind} address: webhooks may only reach public addresses.")
            # The address itself is not told: the form must not become a probe of internal DNS.
            raise Refused(f"{host} resolves to an internal address: webhooks may only reach public addresses.")


def _split(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise Refused("Only http and https URLs with a host can receive webhooks.")
    if parts.username or parts.password:
        raise Refused("Put no credentials in the URL.")
    host = parts.hostname.encode("idna").decode("ascii").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, path


# --- at subscription -------------------------------------------------------------------


def check_subscription_url(url: str) -> None:
    """Raise Refused if the URL's host is, or resolves to, an internal address that the
    allow-list does not name. A name that does not resolve now passes (the receiver may
    not be deployed yet, or be known only to the workers' DNS): each delivery checks it."""
    try:
        _scheme, host, port, _path = _split(url)
    except UnicodeError:
        raise Refused("The host name is not a valid domain name.") from None
    try:
        addresses = resolve(host, port)
    except OSError:
        return
    check(host, addresses)


# --- at delivery ---------------------------------------------------------------------------


def target_for(url: str) -> Target:
    """Resolve once and check every address, to connect to those only: raises Refused, or
    OSError / UnicodeError when the name does not resolve."""
    scheme, host, port, path = _split(url)
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    check(host, addresses)
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(str(ip) for ip in addresses))


class _Pinned:
    """Connects the TCP socket to a checked address (the first that answers), never looking
    the name up again; everything else (the Host header, the TLS server name and the
    certificate check) uses the host name as usual."""

    def __init__(self, *args, addresses: tuple, **kwargs):
        super().__init__(*args, **kwargs)
        self._pinned_addresses = addresses
        self._create_connection = self._connect_pinned

    def _connect_pinned(self, _address, timeout, source_address=None):
        error = None
        for address in self._pinned_addresses:
            try:
                return socket.create_connection((address, self.port), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError("no address to connect to")


class PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    pass


class PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    pass


def connection(target: Target, *, timeout: float):
    if target.scheme == "https":
        return PinnedHTTPSConnection(
            target.host, target.port, timeout=timeout, addresses=target.addresses, context=ssl.create_default_context()
        )
    return PinnedHTTPConnection(target.host, target.port, timeout=timeout, addresses=target.addresses)


def read_some(response, limit: int, *, deadline: float) -> bytes:
    """At most `limit` bytes of the body, and no later than `deadline` (a receiver that
    trickles its answer byte by byte cannot hold a worker)."""
    chunks, size = [], 0
    while size < limit and time.monotonic() < deadline:
        chunk = response.read1(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def sanitise(text: str, limit: int) -> str:
    """Printable text only: line breaks and tabs become spaces, other control and format
    characters (escape sequences, bidirectional overrides) are dropped; at most `limit` characters."""
    kept = []
    for char in text:
        if char in "\t\n\r\v\f\u2028\u2029\x85":
            kept.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co"):
            continue
        else:
            kept.append(char)
    return "".join(kept)[:limit]
