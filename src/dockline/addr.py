"""IP addresses, networks and interfaces: the part of the standard `ipaddress` that dockline uses.

Why our own: `ipaddress` costs ~3.5 ms of every command's start, a sixth of a `network connect`
(issue 3): its own body (~1.2 ms), and `functools` with `collections`, which it imports and which
nothing else in a command needs. These classes load in ~0.4 ms. They keep its names, its
constructors' forms, its text forms (RFC 5952 for IPv6) and its strictness (no leading zeros, no
host bits in a network unless `strict=False`), so code reads as it would with `ipaddress`, and a
value's `str()` is what `ipaddress` would print. Parsing is the C library's `inet_pton`.

What they hold is an int and a prefix length; they are immutable, hashable and ordered within a
version. Unlike `ipaddress`, an interface is not an address (`IPv4Interface` has `.ip`, but is
no `IPv4Address` itself), addresses have no arithmetic, and IPv6 has no scope ids (`fe80::1%eth0`):
dockline needs none of these. `tests/unit/test_addr.py` checks them against `ipaddress`.
"""

from __future__ import annotations

from _socket import AF_INET, AF_INET6, inet_pton

from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import ClassVar, Self, TypeAlias

    AddressValue: TypeAlias = "int | str | bytes | _Address"


class _Value:
    """Equality, hash and repr from `_key()`: equal only to a value of the same class, as in
    `ipaddress` (an IPv4 address is never equal to an IPv6 one, nor to an interface)."""

    __slots__ = ()

    def _key(self) -> object:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    def _same(self, other: Self) -> Self:
        """`other`, which must be of this class to be ordered with it (no order across
        versions)."""
        if type(other) is not type(self):
            raise TypeError(f"{self!r} and {other!r} are not of the same version")
        return other


class _Address(_Value):
    """An address of one version: its int, and what the rest of dockline asks of it."""

    __slots__ = ("_ip",)
    version: ClassVar[int]
    max_prefixlen: ClassVar[int]
    _family: ClassVar[int]
    _ip: int

    def __init__(self, value: AddressValue) -> None:
        if isinstance(value, int):
            if value < 0 or value >> self.max_prefixlen:
                raise ValueError(f"{value} does not fit in IPv{self.version}")
            self._ip = value
        elif isinstance(value, str):
            self._ip = int.from_bytes(self._pton(value), "big")
        elif isinstance(value, bytes):
            if len(value) != self.max_prefixlen // 8:
                raise ValueError(f"{value!r}: not {self.max_prefixlen // 8} bytes")
            self._ip = int.from_bytes(value, "big")
        elif isinstance(value, type(self)):
            self._ip = value._ip
        else:
            raise TypeError(f"IPv{self.version} address from {type(value).__name__}: {value!r}")

    @classmethod
    def _pton(cls, text: str) -> bytes:
        try:
            return inet_pton(cls._family, text)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            raise ValueError(
                f"{text!r} does not appear to be an IPv{cls.version} address"
            ) from None

    @property
    def packed(self) -> bytes:
        """Network byte order, as netlink wants it."""
        return self._ip.to_bytes(self.max_prefixlen // 8, "big")

    def __int__(self) -> int:
        return self._ip

    def _key(self) -> int:
        return self._ip

    def __lt__(self, other: Self) -> bool:
        return self._ip < self._same(other)._ip

    def __le__(self, other: Self) -> bool:
        return self._ip <= self._same(other)._ip

    def __gt__(self, other: Self) -> bool:
        return self._ip > self._same(other)._ip

    def __ge__(self, other: Self) -> bool:
        return self._ip >= self._same(other)._ip

    def _in(self, first: int, prefixlen: int) -> bool:
        """Whether the address is in the block `first`/`prefixlen`."""
        return self._ip >> (self.max_prefixlen - prefixlen) == first >> (
            self.max_prefixlen - prefixlen
        )


class IPv4Address(_Address):
    """An IPv4 address: from "a.b.c.d" (no leading zeros), an int, or 4 packed bytes."""

    __slots__ = ()
    version = 4
    max_prefixlen = 32
    _family = AF_INET

    def __str__(self) -> str:
        return ".".join(map(str, self.packed))

    @property
    def is_loopback(self) -> bool:
        return self._in(0x7F000000, 8)

    @property
    def is_multicast(self) -> bool:
        return self._in(0xE0000000, 4)

    @property
    def is_link_local(self) -> bool:
        return self._in(0xA9FE0000, 16)

    @property
    def is_unspecified(self) -> bool:
        return self._ip == 0

    @property
    def is_reserved(self) -> bool:
        """240.0.0.0/4, the old class E (the broadcast 255.255.255.255 among them)."""
        return self._in(0xF0000000, 4)


class IPv6Address(_Address):
    """An IPv6 address: from any RFC 4291 text form, an int, or 16 packed bytes."""

    __slots__ = ()
    version = 6
    max_prefixlen = 128
    _family = AF_INET6

    def __str__(self) -> str:
        """RFC 5952: lower-case hex, the longest run of two or more zero groups (the first of
        equals) as `::`. (The C library's inet_ntop would print some as dotted IPv4.)"""
        groups = [(self._ip >> shift) & 0xFFFF for shift in range(112, -16, -16)]
        start, length = _longest_zero_run(groups)
        text = [f"{g:x}" for g in groups]
        if length < 2:
            return ":".join(text)
        return ":".join(text[:start]) + "::" + ":".join(text[start + length :])

    @property
    def is_loopback(self) -> bool:
        return self._ip == 1

    @property
    def is_multicast(self) -> bool:
        return self._in(0xFF << 120, 8)

    @property
    def is_link_local(self) -> bool:
        return self._in(0xFE80 << 112, 10)

    @property
    def is_unspecified(self) -> bool:
        return self._ip == 0


def _longest_zero_run(groups: list[int]) -> tuple[int, int]:
    """(start, length) of the first longest run of zeros in `groups`; length 0 if none."""
    best = (0, 0)
    run_start = None
    for i, group in enumerate([*groups, 1]):  # the sentinel ends a trailing run
        if group == 0:
            run_start = i if run_start is None else run_start
        elif run_start is not None:
            if i - run_start > best[1]:
                best = (run_start, i - run_start)
            run_start = None
    return best


class _Network(_Value):
    """An address block: its first address and prefix length."""

    __slots__ = ("network_address", "prefixlen")
    _address: ClassVar[type[_Address]]
    network_address: _Address
    prefixlen: int

    def __init__(self, value: str | tuple[AddressValue, int | str], strict: bool = True) -> None:
        address, prefixlen = _split(self._address, value)
        bits = address.max_prefixlen - prefixlen
        first = int(address) >> bits << bits
        if strict and first != int(address):
            raise ValueError(f"{value!r} has host bits set")
        self.network_address = self._address(first)
        self.prefixlen = prefixlen

    @property
    def version(self) -> int:
        return self._address.version

    @property
    def broadcast_address(self) -> _Address:
        """The block's last address (named as in `ipaddress`, also for IPv6)."""
        bits = self._address.max_prefixlen - self.prefixlen
        return self._address(int(self.network_address) | ((1 << bits) - 1))

    @property
    def num_addresses(self) -> int:
        return 1 << (self._address.max_prefixlen - self.prefixlen)

    def __contains__(self, address: object) -> bool:
        return type(address) is self._address and address._in(
            int(self.network_address), self.prefixlen
        )

    def subnet_of(self, other: Self) -> bool:
        """Whether this block lies wholly inside `other` (of the same version)."""
        return self.prefixlen >= other.prefixlen and self.network_address in other

    def overlaps(self, other: Self) -> bool:
        """Whether the two blocks share an address (one then holds the other)."""
        return self.network_address in other or other.network_address in self

    def __str__(self) -> str:
        return f"{self.network_address}/{self.prefixlen}"

    def __lt__(self, other: Self) -> bool:
        return self._key() < self._same(other)._key()

    def _key(self) -> tuple[int, int]:
        return int(self.network_address), self.prefixlen


class IPv4Network(_Network):
    """An IPv4 block: "a.b.c.d/len" (a bare address is a /32), or (address, len)."""

    __slots__ = ()
    _address = IPv4Address
    network_address: IPv4Address

    if TYPE_CHECKING:  # the base's, which makes an IPv4Address already; typed for mypy

        @property
        def broadcast_address(self) -> IPv4Address: ...

    def hosts(self) -> Iterator[IPv4Address]:
        """The assignable addresses: all but the network and broadcast ones, except in a /31
        or /32, which have neither (RFC 3021)."""
        first, last = int(self.network_address), int(self.broadcast_address)
        if self.prefixlen < 31:
            first, last = first + 1, last - 1
        return map(IPv4Address, range(first, last + 1))


class IPv6Network(_Network):
    """An IPv6 block: "addr/len" (a bare address is a /128), or (address, len)."""

    __slots__ = ()
    _address = IPv6Address
    network_address: IPv6Address

    if TYPE_CHECKING:  # the base's, which makes an IPv6Address already; typed for mypy

        @property
        def broadcast_address(self) -> IPv6Address: ...


class _Interface(_Value):
    """An address on a link, with the prefix length that makes its network."""

    __slots__ = ("ip", "network")
    _network: ClassVar[type[_Network]]
    ip: _Address
    network: _Network

    def __init__(self, value: str | tuple[AddressValue, int | str]) -> None:
        address, prefixlen = _split(self._network._address, value)
        self.ip = address
        self.network = self._network((address, prefixlen), strict=False)

    @property
    def version(self) -> int:
        return self.ip.version

    @property
    def with_prefixlen(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"{self.ip}/{self.network.prefixlen}"

    def _key(self) -> tuple[_Address, int]:
        return self.ip, self.network.prefixlen


class IPv4Interface(_Interface):
    """An IPv4 address with its prefix length: "a.b.c.d/len", or (address, len)."""

    __slots__ = ()
    _network = IPv4Network
    ip: IPv4Address
    network: IPv4Network


class IPv6Interface(_Interface):
    """An IPv6 address with its prefix length: "addr/len", or (address, len)."""

    __slots__ = ()
    _network = IPv6Network
    ip: IPv6Address
    network: IPv6Network


def _split(
    kind: type[_Address], value: str | tuple[AddressValue, int | str]
) -> tuple[_Address, int]:
    """The address and prefix length of "addr[/len]" or (addr, len), the length checked."""
    if isinstance(value, str):
        text, slash, length = value.partition("/")
        address, prefix = kind(text), length if slash else kind.max_prefixlen
    else:
        address, prefix = kind(value[0]), value[1]
    if isinstance(prefix, str):
        if not (prefix.isascii() and prefix.isdigit() and len(prefix) <= 3):
            raise ValueError(f"{value!r}: prefix length {prefix!r} is not a number")
        prefix = int(prefix)
    if not 0 <= prefix <= kind.max_prefixlen:
        raise ValueError(f"{value!r}: prefix length {prefix} is not 0 to {kind.max_prefixlen}")
    return address, prefix


def ip_address(value: AddressValue) -> IPv4Address | IPv6Address:
    """An IPv4 or IPv6 address, whichever `value` is (an int below 2**32 is IPv4)."""
    try:
        return IPv4Address(value)
    except (ValueError, TypeError):
        pass
    try:
        return IPv6Address(value)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} does not appear to be an IPv4 or IPv6 address") from None


def ip_network(
    value: str | tuple[AddressValue, int | str], strict: bool = True
) -> IPv4Network | IPv6Network:
    """An IPv4 or IPv6 network, whichever `value` is."""
    if _version_of(value) == 6:
        return IPv6Network(value, strict)
    return IPv4Network(value, strict)


def ip_interface(value: str | tuple[AddressValue, int | str]) -> IPv4Interface | IPv6Interface:
    """An IPv4 or IPv6 interface, whichever `value` is."""
    if _version_of(value) == 6:
        return IPv6Interface(value)
    return IPv4Interface(value)


def _version_of(value: str | tuple[AddressValue, int | str]) -> int:
    """6 for text with a colon in its address part or an IPv6 first member, else 4."""
    if isinstance(value, str):
        return 6 if ":" in value.partition("/")[0] else 4
    first = value[0]
    return first.version if isinstance(first, _Address) else ip_address(first).version
