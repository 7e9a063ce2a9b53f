"""IP address management: parsing user-given addresses, and allocation over subnets and ranges.

Pure functions, no I/O: the caller reads leases and the cursor from the store inside one
transaction, asks here for an address, and records the lease in that same transaction. That is
what makes allocation safe across concurrent processes; nothing here keeps state.

Allocation is sequential like Docker's: the next free address after the last one handed out,
wrapping around once, so an address freed a moment ago is not handed to the next container while
stale ARP entries for it may still be around. Subnets of /31 and /32 have no network or broadcast
address (RFC 3021): every address in them is usable, so a /32 whose only address is the gateway
has nothing left to allocate.
"""

from __future__ import annotations

from itertools import chain

from dockline.addr import IPv4Address, IPv4Interface, IPv4Network
from dockline.errors import Conflict, InvalidArgument, PoolExhausted
from dockline.model import IPAddress
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator

_HEX = frozenset("0123456789abcdefABCDEF")
_MAC_WHY = "expected six hex octets (aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff)"


def default_pools() -> Iterator[IPv4Network]:
    """Docker's default local address pools, in order: 172.17-31.0.0/16, then 192.168.0.0/16
    cut into /20s. Made when a subnet is chosen, not at import: 31 networks cost ~70 us of
    every command's start, and only the first connect of a host needs them."""
    for b in range(17, 32):
        yield IPv4Network(((172 << 24) | (b << 16), 16))
    for c in range(0, 256, 16):
        yield IPv4Network(((192 << 24) | (168 << 16) | (c << 8), 20))


def parse_mac(text: str) -> str:
    """A 48-bit unicast MAC in a form Go's net.ParseMAC takes, as lower-case aa:bb:cc:dd:ee:ff."""
    octets = _mac_octets(text)
    if octets is None:
        raise InvalidArgument("MAC address", text, _MAC_WHY)
    if octets[0] & 1:
        raise InvalidArgument("MAC address", text, "multicast address")
    if not any(octets):
        raise InvalidArgument("MAC address", text, "all-zero address")
    return octets.hex(":")


def _mac_octets(text: str) -> bytes | None:
    """The six octets of `text`, or None if it is not one of the accepted notations."""
    if len(text) == 17 and text[2] in ":-":
        groups = text.split(text[2])
        width = 2
    elif len(text) == 14 and text[4] == ".":
        groups = text.split(".")
        width = 4
    else:
        return None
    if len(groups) != 12 // width or any(len(g) != width or not _HEX.issuperset(g) for g in groups):
        return None
    return bytes.fromhex("".join(groups))


def mac_from_ipv4(address: IPv4Address) -> str:
    """Docker's generated MAC: locally administered prefix 02:42, then the four address bytes."""
    return (b"\x02\x42" + address.packed).hex(":")


def parse_ipv4(text: str, what: str = "IP address") -> IPv4Address:
    """A dotted-quad IPv4 address; InvalidArgument naming `what` and the value otherwise."""
    try:
        return IPv4Address(text)
    except ValueError:
        why = "not an IPv4 address" if ":" in text else "expected a.b.c.d such as 172.17.0.2"
        raise InvalidArgument(what, text, why) from None


def as_ipv4(value: IPv4Address | str, what: str = "IP address") -> IPv4Address:
    """`value` if it is an address already, else its text parsed: the Python API also takes
    plain strings, and the standard library's `ipaddress` objects (by their text)."""
    return value if isinstance(value, IPv4Address) else parse_ipv4(str(value), what)


def parse_subnet(text: str, what: str = "subnet") -> IPv4Network:
    """An IPv4 network in CIDR notation whose host bits are all zero."""
    address, network = _parse_cidr(text, what, "172.18.0.0/16")
    if address != network.network_address:
        raise InvalidArgument(what, text, f"host bits set; did you mean {network}?")
    return network


def parse_interface(text: str, what: str = "bip") -> IPv4Interface:
    """An IPv4 address with its prefix length, as in Docker's --bip 172.18.0.1/16."""
    address, network = _parse_cidr(text, what, "172.18.0.1/16")
    return IPv4Interface((address, network.prefixlen))


def _parse_cidr(text: str, what: str, example: str) -> tuple[IPv4Address, IPv4Network]:
    """Split "a.b.c.d/len" into the address and its network; only a decimal prefix length."""
    address, slash, prefix = text.partition("/")
    malformed = f"expected CIDR notation such as {example}"
    if not slash or not prefix.isascii() or not prefix.isdigit():
        raise InvalidArgument(what, text, malformed)
    try:
        ip = IPv4Address(address)
    except ValueError:
        raise InvalidArgument(what, text, "not IPv4" if ":" in address else malformed) from None
    if int(prefix) > 32:
        raise InvalidArgument(what, text, "prefix length must be 0 to 32")
    return ip, IPv4Network((ip, int(prefix)), strict=False)


def _usable_bounds(subnet: IPv4Network) -> tuple[int, int]:
    """First and last assignable address of a subnet, as integers."""
    first, last = int(subnet.network_address), int(subnet.broadcast_address)
    if subnet.prefixlen < 31:
        return first + 1, last - 1
    return first, last


def next_free_address(
    subnet: IPv4Network,
    *,
    ip_range: IPv4Network | None,
    reserved: Collection[IPAddress],
    in_use: Collection[IPAddress],
    after: IPv4Address | None,
) -> IPv4Address:
    """The first free address strictly after `after`, wrapping around once to the pool's start.

    The pool is `ip_range` (Docker's fixed-cidr) if given, else the subnet; the subnet's network
    and broadcast addresses, `reserved` and `in_use` are skipped. Pass `in_use` as a set: it is
    probed once per candidate, and only from the cursor on, so a /16 with thousands of leases
    costs a few probes in the usual case.
    """
    pool = ip_range or subnet
    if not pool.subnet_of(subnet):
        raise InvalidArgument("IP range", pool, f"not in subnet {subnet}")
    lo, hi = _usable_bounds(subnet)
    lo, hi = max(lo, int(pool.network_address)), min(hi, int(pool.broadcast_address))
    start = lo
    if after is not None and lo <= int(after) < hi:
        start = int(after) + 1
    for candidate in chain(range(start, hi + 1), range(lo, start)):
        address = IPv4Address(candidate)
        if address not in in_use and address not in reserved:
            return address
    raise PoolExhausted(f"no free address in {pool}")


def check_requested_address(
    subnet: IPv4Network,
    address: IPv4Address,
    *,
    reserved: Collection[IPAddress],
    in_use: Collection[IPAddress],
) -> None:
    """Validate a user-chosen address (--ip): inside the subnet, assignable, and free."""
    if address not in subnet:
        raise InvalidArgument("IP address", address, f"not in subnet {subnet}")
    if subnet.prefixlen < 31:
        if address == subnet.network_address:
            raise InvalidArgument("IP address", address, f"network address of {subnet}")
        if address == subnet.broadcast_address:
            raise InvalidArgument("IP address", address, f"broadcast address of {subnet}")
    if address in reserved:
        raise InvalidArgument("IP address", address, "reserved for the gateway")
    if address in in_use:
        raise Conflict(f"IP address {address} is already in use")


def choose_default_subnet(
    routes: Iterable[IPv4Network], taken: Iterable[IPv4Network] = ()
) -> IPv4Network:
    """The first default pool that overlaps no host route (the default route aside) nor `taken`.

    This is how Docker picks docker0's subnet when no --bip is given, so a host already using
    172.17.0.0/16 on its LAN gets 172.18.0.0/16 instead of a route that shadows its own.
    """
    blocked = [r for r in routes if r.version == 4 and r.prefixlen > 0]
    blocked.extend(t for t in taken if t.version == 4)
    for pool in default_pools():
        if not any(pool.overlaps(b) for b in blocked):
            return pool
    raise PoolExhausted(
        "no free default address pool: every one of 172.17.0.0/16-172.31.0.0/16 and "
        "192.168.0.0/16 (as /20s) overlaps a host route or an existing network"
    )
