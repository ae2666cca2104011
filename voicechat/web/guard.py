"""Who may reach `voicechat web`: the Host names it answers to, the origins its socket
accepts, and the token every page and socket must carry.

A web page on another site can make the browser send requests to 127.0.0.1, and with DNS
rebinding its own host name can point there too, so being on loopback proves nothing. Three
checks, each on every request and socket:

- Host: only the names this server is reached by (the loopback names on a loopback address;
  the machine's addresses and names, and those the user allowed, elsewhere). A rebinding
  page's requests carry its own name, so they are refused.
- Origin: a browser's socket must come from one of those same names, a fixed list that is
  never taken from the request itself (no Origin: not a browser, and the token still counts).
- The token: printed once at start in the address to open (`?token=`), swapped on that first
  load for an HttpOnly, SameSite=Strict cookie and cleaned from the URL by a redirect.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is only reachable from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_with_port(host: str, port: int) -> str:
    """`host:port` as it appears in a Host header and a URL (IPv6 in brackets), lowercased."""
    host = host.strip("[]").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def machine_addresses() -> list[str]:
    """This machine's IP addresses (every interface, IPv6 link-local left out)."""
    import psutil

    found: list[str] = []
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = a.address.split("%")[0]
            if ipaddress.ip_address(address).is_link_local or address in found:
                continue
            found.append(address)
    return found


def machine_names() -> list[str]:
    """This machine's host name and fully qualified name."""
    names = [socket.gethostname(), socket.getfqdn()]
    return [n.lower() for i, n in enumerate(names) if n and n not in names[:i]]


def reachable_names(bind: str, allowed: Iterable[str] = ()) -> list[str]:
    """The names a browser may use for a server bound to `bind`.

    Loopback: it and the loopback names. A wildcard (0.0.0.0, ::): every address of this
    machine, its names and the loopback names. Another address: it and the machine's names.
    allowed: more names the user gave (a DNS name, a proxy's name), used on any address.
    """
    if is_loopback(bind):
        names = [bind, *LOOPBACK_NAMES]
    elif bind in WILDCARD_ADDRESSES:
        names = [*LOOPBACK_NAMES, *machine_addresses(), *machine_names()]
    else:
        names = [bind, *machine_names()]
    names += list(allowed)
    return [n.strip("[]").lower() for i, n in enumerate(names) if n not in names[:i]]


@dataclass(frozen=True)
class Access:
    """The checks of one server. hosts: accepted Host header values; origins: accepted
    Origin values; cookie: the name of the cookie that carries the token."""

    token: str
    hosts: frozenset[str]
    origins: frozenset[str]
    cookie: str

    @classmethod
    def of(cls, names: Iterable[str], port: int, token: str) -> Access:
        """The checks for a server on `port` reached by `names`."""
        hosts = {host_with_port(n, port) for n in names}
        if port == 80:  # browsers leave the default port out of Host and Origin
            hosts |= {h.rsplit(":", 1)[0] for h in hosts}
        origins = {f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")}
        return cls(token, frozenset(hosts), frozenset(origins), f"voicechat-token-{port}")

    def host_ok(self, host: str | None) -> bool:
        """The Host header names this server."""
        return host is not None and host.lower() in self.hosts

    def origin_ok(self, origin: str | None) -> bool:
        """A browser's request comes from this server's own page (no Origin: not a browser)."""
        return origin is None or origin.lower() in self.origins

    def token_ok(self, given: str | None) -> bool:
        """`given` is the token (compared in constant time)."""
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def addresses_to_open(bind: str, port: int, token: str) -> list[str]:
    """The addresses to print at start, each with the token: for a wildcard bind, every
    address of this machine a phone could use, then localhost for this machine."""
    if bind in WILDCARD_ADDRESSES:
        hosts = [a for a in machine_addresses() if not is_loopback(a)] + ["localhost"]
    else:
        hosts = [bind]
    return [f"http://{host_with_port(h, port)}/?token={token}" for h in hosts]
