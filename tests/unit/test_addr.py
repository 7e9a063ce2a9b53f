"""dockline.addr against the standard `ipaddress`: same text, ints, bytes, blocks and verdicts."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from dockline import addr

SEED = 20261128
V4_BAD = [
    "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", " 1.2.3.4", "1.2.3.4 ",
    "1..2.3", "0x1.2.3.4", "1.2.3.-4", "\uff11.2.3.4", "1.2.3.4\x00", "1.2.3.4/24", "::1",
]  # fmt: skip
V6_GOOD = [
    "::", "::1", "1::", "fe80::1", "1:2:3:4:5:6:7:8", "1:0:0:1:0:0:0:1", "0:0:1:0:0:1:0:0",
    "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "FE80::ABCD", "0000:0::1",
    "2001:db8::", "2001:db8:0:0:1::1", "ff02::1:ff00:1",
]  # fmt: skip
V6_BAD = [
    "", ":", "1:::2", "12345::", ":1", "1:", "1:2:3:4:5:6:7:8:9", "1::2::3", "::01.2.3.4",
    "::1.2.3", "g::1", "1.2.3.4", "::1/64",
]  # fmt: skip
# Both edges of each special block, and their neighbours outside it.
EDGES = {
    32: ["0.0.0.1", "126.255.255.255", "127.0.0.0", "127.255.255.255", "128.0.0.0",
         "169.253.255.255", "169.254.0.0", "169.254.255.255", "169.255.0.0", "223.255.255.255",
         "224.0.0.0", "239.255.255.255", "240.0.0.0", "255.255.255.254"],
    128: ["::2", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::", "febf:ffff::1", "fec0::",
          "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::", "ffff::1"],
}  # fmt: skip


def interesting_ints(bits: int, n: int) -> list[int]:
    """Random values, and values with long runs of zero bits (what IPv6 text compresses)."""
    rng = random.Random(SEED + bits)
    values = [0, 1, (1 << bits) - 1]
    values += [int(ipaddress.ip_address(text)) for text in EDGES[bits]]
    values += [rng.getrandbits(bits) for _ in range(n)]
    for _ in range(n):  # zero some 16-bit groups, in runs
        v = rng.getrandbits(bits)
        for _ in range(rng.randrange(1, 4)):
            start, length = rng.randrange(bits // 16), rng.randrange(1, 5)
            for g in range(start, min(start + length, bits // 16)):
                v &= ~(0xFFFF << (16 * g))
        values.append(v)
    return values


@pytest.mark.parametrize(("ours", "theirs", "bits"), [
    (addr.IPv4Address, ipaddress.IPv4Address, 32),
    (addr.IPv6Address, ipaddress.IPv6Address, 128),
])  # fmt: skip
def test_addresses_print_and_parse_as_ipaddress(ours: Any, theirs: Any, bits: int) -> None:
    for value in interesting_ints(bits, 500):
        a, b = ours(value), theirs(value)
        assert str(a) == str(b)
        assert int(a) == value
        assert a.packed == b.packed
        assert ours(str(a)) == a == ours(a.packed) == ours(a)
        assert repr(a) == repr(b)
        for prop in ("is_loopback", "is_multicast", "is_link_local", "is_unspecified"):
            assert getattr(a, prop) == getattr(b, prop), (prop, str(b))
        if bits == 32:
            assert a.is_reserved == b.is_reserved, str(b)


def test_text_forms_accepted_and_refused_alike() -> None:
    for text in V6_GOOD:
        assert str(addr.IPv6Address(text)) == str(ipaddress.IPv6Address(text))
    for kind, theirs, bad in (
        (addr.IPv4Address, ipaddress.IPv4Address, V4_BAD),
        (addr.IPv6Address, ipaddress.IPv6Address, V6_BAD),
    ):
        for text in bad:
            with pytest.raises(ValueError):
                theirs(text)
            with pytest.raises(ValueError, match="does not appear to be"):
                kind(text)


def test_values_out_of_range_or_of_another_kind_are_refused() -> None:
    for value in (-1, 1 << 32):
        with pytest.raises(ValueError):
            addr.IPv4Address(value)
    with pytest.raises(ValueError):
        addr.IPv4Address(b"\x01\x02\x03")
    with pytest.raises(TypeError):
        addr.IPv4Address(1.5)  # type: ignore[arg-type]  # a float is no address
    with pytest.raises(TypeError):
        addr.IPv4Address(addr.IPv6Address(1))
    with pytest.raises(ValueError, match="does not appear"):
        addr.IPv6Address("fe80::1%eth0")  # scope ids: not dockline's (ipaddress takes them)


def test_equality_hash_and_order_stay_within_a_kind() -> None:
    four, six = addr.IPv4Address(1), addr.IPv6Address(1)
    assert four != six and len({four, six, addr.IPv4Address("0.0.0.1")}) == 2
    assert addr.IPv4Interface("10.0.0.1/24") != addr.IPv4Address("10.0.0.1")
    assert addr.IPv4Address(1) != 1
    with pytest.raises(TypeError):
        assert four < six  # type: ignore[operator]  # two versions have no order
    values = interesting_ints(32, 50)
    assert [int(a) for a in sorted(map(addr.IPv4Address, values))] == sorted(values)
    nets = [addr.IPv4Network((v, v % 33), strict=False) for v in values]
    theirs = [ipaddress.IPv4Network((v, v % 33), strict=False) for v in values]
    assert list(map(str, sorted(nets))) == list(map(str, sorted(theirs)))


@pytest.mark.parametrize(("ours", "theirs", "bits"), [
    (addr.IPv4Network, ipaddress.IPv4Network, 32),
    (addr.IPv6Network, ipaddress.IPv6Network, 128),
])  # fmt: skip
def test_networks_as_ipaddress(ours: Any, theirs: Any, bits: int) -> None:
    rng = random.Random(SEED)
    values = interesting_ints(bits, 200)
    for value in values:
        prefix = rng.randrange(bits + 1)
        a, b = ours((value, prefix), strict=False), theirs((value, prefix), strict=False)
        assert str(a) == str(b) and a.prefixlen == b.prefixlen
        assert str(a.network_address) == str(b.network_address)
        assert str(a.broadcast_address) == str(b.broadcast_address)
        assert a.num_addresses == b.num_addresses
        assert ours(str(a)) == a and hash(ours(str(a))) == hash(a)
        assert a.version == b.version
        for probe in (value, rng.getrandbits(bits), int(b.broadcast_address) + 1):
            if probe < 1 << bits:
                assert (a.network_address.__class__(probe) in a) == (
                    b.network_address.__class__(probe) in b
                )
        other_value, other_prefix = rng.choice(values), rng.randrange(bits + 1)
        c = ours((other_value, other_prefix), strict=False)
        d = theirs((other_value, other_prefix), strict=False)
        assert a.overlaps(c) == b.overlaps(d)
        assert a.subnet_of(c) == b.subnet_of(d)
        if int(b.network_address) != value:
            with pytest.raises(ValueError, match="host bits"):
                ours((value, prefix))
            with pytest.raises(ValueError):
                theirs((value, prefix))


def test_network_text_and_hosts() -> None:
    assert str(addr.IPv4Network("10.1.2.3")) == "10.1.2.3/32"
    assert str(addr.IPv6Network("fe80::/10")) == "fe80::/10"
    assert addr.IPv4Address("1.2.3.4") not in addr.IPv6Network("::/0")
    for text in ("10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/+8", "10.0.0.0/ 8"):
        with pytest.raises(ValueError):
            ipaddress.IPv4Network(text)
        with pytest.raises(ValueError):
            addr.IPv4Network(text)
    for text in ("10.0.0.0/29", "10.0.0.0/30", "10.0.0.0/31", "10.0.0.7/32", "10.0.0.0/24"):
        theirs = [str(h) for h in ipaddress.IPv4Network(text).hosts()]
        assert [str(h) for h in addr.IPv4Network(text).hosts()] == theirs


def test_interfaces_and_the_dispatching_constructors() -> None:
    for text in ("172.17.0.2/16", "10.0.0.1/32", "fe80::1/64", "2001:db8::5/128"):
        ours, theirs = addr.ip_interface(text), ipaddress.ip_interface(text)
        assert str(ours) == str(theirs) == ours.with_prefixlen
        assert str(ours.ip) == str(theirs.ip) and str(ours.network) == str(theirs.network)
        assert ours.version == theirs.version and ours == addr.ip_interface(text)
        assert type(ours).__name__ == type(theirs).__name__
    iface = addr.IPv4Interface((addr.IPv4Address("10.0.0.5"), 24))
    assert str(iface) == "10.0.0.5/24" and iface.network == addr.IPv4Network("10.0.0.0/24")
    assert iface != addr.IPv4Interface("10.0.0.5/25")
    assert addr.ip_address(b"\x0a\x00\x00\x01") == addr.IPv4Address("10.0.0.1")
    assert addr.ip_address(bytes(15) + b"\x01") == addr.IPv6Address("::1")
    assert addr.ip_network((addr.IPv6Address("fe80::"), 64)) == addr.IPv6Network("fe80::/64")
    assert addr.ip_network((0, 0)) == addr.IPv4Network("0.0.0.0/0")
    with pytest.raises(ValueError, match="IPv4 or IPv6"):
        addr.ip_address("nonsense")


def test_values_survive_pickle_and_copy() -> None:
    import copy
    import pickle

    values: list[object] = [
        addr.IPv4Address("1.2.3.4"),
        addr.IPv6Address("fe80::1"),
        addr.IPv4Network("10.0.0.0/8"),
        addr.IPv6Network("2001:db8::/32"),
        addr.IPv4Interface("10.1.2.3/24"),
        addr.IPv6Interface("fe80::1/64"),
    ]
    for value in values:
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value
