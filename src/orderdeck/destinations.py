"""Where Orderdeck connects on its users' behalf: public addresses, and what the operator allows.

Webhook addresses, rules' `http_request` URLs and a shop's own mail server are typed by API
clients and staff. Left alone they would make Orderdeck connect to its own loopback, to the
private network it runs in or to a cloud's metadata address (169.254.169.254), and show the
first bytes of the answer in the delivery log. So every such connection resolves the host name
once, checks every address it resolves to, and connects to an address it checked: a name that
resolves elsewhere a moment later (DNS rebinding) changes nothing. Loopback, private,
link-local, shared, reserved and multicast addresses are refused in every spelling
(2130706433, 0x7f.1, [::ffff:127.0.0.1]), unless ORDERDECK_ALLOW_PRIVATE_ADDRESSES names them
(receivers on the operator's own network). What the operator sets in the environment
(ORDERDECK_SMTP_URL, ORDERDECK_SMS_URL) is trusted and not checked.

A refusal happens before any connection is made, with one text whatever listens there, so it
tells nothing about which ports are open.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import aiohttp
import anyio
import httpcore
import httpx
import idna
from aiohttp.abc import AbstractResolver, ResolveResult

from .settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "ORDERDECK_ALLOW_PRIVATE_ADDRESSES"
NAT64 = ipaddress.ip_network("64:ff9b::/96")
HOST_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?$", re.IGNORECASE)


class RefusedDestination(OSError):
    """A host Orderdeck does not connect to for its users. Never retried: the address is wrong."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"{host} is not a public address (loopback, private, link-local and reserved addresses are refused; "
            f"the operator can allow receivers on their own network with {SETTING})"
        )


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), which is where it goes."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    inner = _embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number means, in any spelling the system's resolver
    accepts (127.0.0.1, 2130706433, 0x7f.1, 0177.0.0.1, ::ffff:127.0.0.1), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Destinations:
    """The public internet, plus the hosts and networks the operator allows."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> Destinations:
        """`127.0.0.1,10.0.0.0/8,hooks.internal`: addresses, networks and host names."""
        entries = text.split(",") if isinstance(text, str) else list(text)
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            literal = literal_address(entry)
            if literal is not None:
                networks.append(ipaddress.ip_network(literal))
            elif HOST_NAME.match(entry):
                hosts.add(entry.lower().rstrip("."))
            else:
                raise ValueError(f"{SETTING}: {entry!r} is neither an address, a network (10.0.0.0/8) nor a host name")
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, ip: IPAddress) -> bool:
        if is_public(ip):
            return True
        candidates = [ip] + [inner for inner in (_embedded_ipv4(ip),) if inner is not None]
        return any(c.version == n.version and c in n for c in candidates for n in self.networks)

    def trusts_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, host: str) -> str | None:
        """Why an address typed in cannot be used, when that shows without resolving it: an
        address in any spelling, or localhost. Names are checked again when connecting."""
        if self.trusts_name(host):
            return None
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            refused = not self.allows(ipaddress.IPv4Address("127.0.0.1"))
        else:
            literal = literal_address(host)
            refused = literal is not None and not self.allows(literal)
        return str(RefusedDestination(host)) if refused else None

    def check(self, host: str, addresses: Iterable[str]) -> list[str]:
        """Those of the addresses a host resolved to that may be used (only those are tried: a
        name with a private address among public ones reaches only the public ones), or
        RefusedDestination when none may."""
        found = list(dict.fromkeys(addresses))
        if self.trusts_name(host):
            return found
        usable = [a for a in found if self.allows(ipaddress.ip_address(a.split("%", 1)[0]))]
        if not usable:
            raise RefusedDestination(host)
        return usable

    def resolve(self, host: str, port: int) -> list[str]:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return self.check(host, (str(info[4][0]) for info in infos))

    async def resolve_async(self, host: str, port: int) -> list[str]:
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return self.check(host, (str(info[4][0]) for info in infos))

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to a checked address of `host` (for smtplib)."""
        last: OSError | None = None
        for address in self.resolve(host, port):
            try:
                return socket.create_connection((address, port), timeout)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last


@cache
def of(settings: Settings) -> Destinations:
    return Destinations.parse(settings.allow_private_addresses)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the destinations allow."""

    def __init__(self, destinations: Destinations) -> None:
        self.destinations = destinations
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self.destinations.resolve_async(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"{host} did not resolve in time") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedDestination(path)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over the guarded backend. httpx 0.28 takes no network backend, so the
    connection pool it made is replaced by one alike that has it (the refusal tests fail should
    httpx stop sending through `_pool`)."""

    def __init__(self, destinations: Destinations, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(destinations),
        )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for users' addresses: aiohttp connects to exactly the addresses this
    returns, so only checked ones are ever tried (and cached: a name rebound a moment later
    changes nothing). Addresses written as numbers skip resolving; `guarded_session` checks them."""

    def __init__(self, destinations: Destinations) -> None:
        self.destinations = destinations

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        # An invalid IDNA label (http://xn--/) makes a name that cannot be used, as on saving:
        # a UnicodeError, never retried, where the system's resolver would only fail to find it
        # (retried). Plain ASCII names go as they are (an allowed docker_service, say).
        if not host.isascii() or "xn--" in host.lower():
            idna.encode(host, uts46=True)
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        usable = self.destinations.check(host, (str(info[4][0]) for info in infos))
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in usable
        ]

    async def close(self) -> None:
        return None


def guarded_session(
    destinations: Destinations, *, connect_timeout: float, per_host: int, connections: int
) -> aiohttp.ClientSession:
    """An aiohttp session for users' addresses, held to the same rules as `client`: checked
    addresses only, no redirects (each request says allow_redirects=False), no proxy or cookies
    from anywhere, httpx's certificate store. Keep-alive connections are pooled per receiver,
    at most `per_host` each."""

    async def refuse_unchecked(request: aiohttp.ClientRequest, handler: typing.Any) -> aiohttp.ClientResponse:
        host = request.url.raw_host or ""
        literal = literal_address(host)
        if literal is not None and not destinations.trusts_name(host) and not destinations.allows(literal):
            raise RefusedDestination(host)
        return await handler(request)  # type: ignore[no-any-return]

    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(destinations),
        limit=connections,
        limit_per_host=per_host,
        # httpx's 5 s rather than aiohttp's 15: an idle connection goes before most receivers
        # drop it, so a send rarely meets a connection closing under it.
        keepalive_timeout=5.0,
        ssl=httpx.create_ssl_context(),
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
        middlewares=(refuse_unchecked,),
    )


def client(destinations: Destinations, timeout: httpx.Timeout, limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    """An HTTP client for users' addresses: redirects not followed (each would need the same
    check), no proxy from the environment (it would connect for us, unchecked)."""
    limits = limits or httpx.Limits()
    return httpx.AsyncClient(
        transport=GuardedTransport(destinations, limits), timeout=timeout, follow_redirects=False, trust_env=False
    )
