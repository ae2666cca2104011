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
- The key: the printed address carries a one-time token in its fragment (`/#token=…`, never
  sent in a request line, so never in a proxy's or server's log). The page sends it as its
  socket's first message and gets a page secret back, kept in `sessionStorage`, which the
  browser scopes by scheme, host and port, so no other server on the machine ever sees it
  (a cookie would go to every port). The token is then spent and a new one printed; what a
  browser's history keeps is a spent token. `--open` posts the token from a private local
  file instead, so it is in no history and no command line.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
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


def reachable_names(bind: str) -> list[str]:
    """The names a browser may use for a server bound to `bind`.

    Loopback: it and the loopback names. A wildcard (0.0.0.0, ::): every address of this
    machine, its names and the loopback names. Another address: it and the machine's names.
    """
    if is_loopback(bind):
        names = [bind, *LOOPBACK_NAMES]
    elif bind in WILDCARD_ADDRESSES:
        names = [*LOOPBACK_NAMES, *machine_addresses(), *machine_names()]
    else:
        names = [bind, *machine_names()]
    return [n.strip("[]").lower() for i, n in enumerate(names) if n not in names[:i]]


@dataclass(frozen=True)
class Access:
    """The name checks of one server. hosts: accepted Host header values; origins: accepted
    Origin values."""

    hosts: frozenset[str]
    origins: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str], port: int, public: Iterable[str] = ()) -> Access:
        """The checks for a server on `port` reached by `names`, and through a proxy by
        `public` names ("voice.example" or "voice.example:8443"): those are taken as the
        browser sends them, on the default port of http or https or on the one given."""
        hosts = {host_with_port(n, port) for n in names}
        if port == 80:  # browsers leave the default port out of Host and Origin
            hosts |= {h.rsplit(":", 1)[0] for h in hosts}
        origins = {f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")}
        for given in public:
            name = given.strip().lower()
            hosts |= {name} if ":" in name else {name, host_with_port(name, port)}
            origins |= {f"{scheme}://{name}" for scheme in ("http", "https")}
        return cls(frozenset(hosts), frozenset(origins))

    def host_ok(self, host: str | None) -> bool:
        """The Host header names this server."""
        return host is not None and host.lower() in self.hosts

    def origin_ok(self, origin: str | None) -> bool:
        """A browser's request comes from this server's own page (no Origin: not a browser)."""
        return origin is None or origin.lower() in self.origins


MAX_SECRETS = 64
"""Page secrets kept at once; the oldest is forgotten past this (its page must log in again)."""


class Keys:
    """The one-time token printed to open a page, and the page secrets it was swapped for.

    on_new_token: told each new token once the one before it is spent (the CLI prints the
    next address to open). Safe to use from any thread.
    """

    def __init__(self, on_new_token: Callable[[str], None] = lambda _: None) -> None:
        self.on_new_token = on_new_token
        self.token = secrets.token_urlsafe(24)
        self._secrets: list[str] = []
        self._lock = threading.Lock()

    def exchange(self, given: object) -> str | None:
        """A new page secret for the current token (then spent and replaced); None for any
        other value."""
        if not isinstance(given, str) or not _same(given, self.token):
            return None
        secret = secrets.token_urlsafe(32)
        with self._lock:
            if not _same(given, self.token):  # spent by another page meanwhile
                return None
            self.token = secrets.token_urlsafe(24)
            self._secrets = [*self._secrets, secret][-MAX_SECRETS:]
            token = self.token
        self.on_new_token(token)
        return secret

    def secret_ok(self, given: object) -> bool:
        """`given` is a page secret this server handed out (compared in constant time)."""
        if not isinstance(given, str):
            return False
        with self._lock:
            known = list(self._secrets)
        matches = [_same(given, secret) for secret in known]  # each compared: constant time
        return any(matches)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def listening_addresses(bind: str) -> list[str]:
    """The addresses of this machine a server bound to the wildcard `bind` listens on:
    IPv4 ones for 0.0.0.0, every one for ::."""
    found = [a for a in machine_addresses() if not is_loopback(a)]
    if bind != "::":
        found = [a for a in found if ":" not in a]
    return found


def addresses_to_open(bind: str, port: int, token: str) -> list[str]:
    """The addresses to print, each with the one-time token: for a wildcard bind, every
    address of this machine it listens on that a phone could use, then localhost."""
    hosts = [*listening_addresses(bind), "localhost"] if bind in WILDCARD_ADDRESSES else [bind]
    return [f"http://{host_with_port(h, port)}/#token={token}" for h in hosts]
