"""IPAM: parsing user addresses, sequential allocation, requested addresses, default pools."""

from __future__ import annotations

import time

import pytest

from dockline import ipam
from dockline.addr import IPv4Address, IPv4Network
from dockline.errors import Conflict, InvalidArgument, PoolExhausted

A = IPv4Address
N = IPv4Network
SUBNET = N("172.17.0.0/16")
GATEWAY = A("172.17.0.1")


def alloc(
    subnet: IPv4Network = SUBNET,
    *,
    ip_range: IPv4Network | None = None,
    reserved: set[IPv4Address] | None = None,
    in_use: set[IPv4Address] | None = None,
    after: str | None = None,
) -> IPv4Address:
    return ipam.next_free_address(
        subnet,
        ip_range=ip_range,
        reserved={GATEWAY} if reserved is None else reserved,
        in_use=in_use or set(),
        after=None if after is None else A(after),
    )


# MAC addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02:42:ac:11:00:02", "02:42:ac:11:00:02"),
        ("02:42:AC:11:00:02", "02:42:ac:11:00:02"),
        ("02-42-ac-11-00-02", "02:42:ac:11:00:02"),
        ("0242.ac11.0002", "02:42:ac:11:00:02"),
        ("fe:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff"),
    ],
)
def test_parse_mac_accepts_go_forms(text: str, expected: str) -> None:
    assert ipam.parse_mac(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "six hex octets"),
        ("02:42:ac:11:00", "six hex octets"),
        ("02:42:ac:11:00:02:03", "six hex octets"),
        ("02:42:ac:11:00:0g", "six hex octets"),
        ("02:42-ac:11:00:02", "six hex octets"),  # mixed separators
        ("2:42:ac:11:00:002", "six hex octets"),  # right length, wrong grouping
        ("0242ac110002", "six hex octets"),
        ("0242.ac11.0002.0003", "six hex octets"),  # 64-bit EUI: Go takes it, we do not
        (" 02:42:ac:11:00:02", "six hex octets"),
        ("01:00:5e:00:00:01", "multicast address"),
        ("ff:ff:ff:ff:ff:ff", "multicast address"),
        ("00:00:00:00:00:00", "all-zero address"),
    ],
)
def test_parse_mac_rejects_naming_value(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        ipam.parse_mac(text)
    assert f"invalid MAC address {text}: " in str(info.value)
    assert why in str(info.value)


def test_mac_from_ipv4_is_dockers() -> None:
    assert ipam.mac_from_ipv4(A("172.17.0.2")) == "02:42:ac:11:00:02"
    assert ipam.mac_from_ipv4(A("10.255.0.1")) == "02:42:0a:ff:00:01"
    assert ipam.parse_mac(ipam.mac_from_ipv4(A("192.168.0.9"))) == "02:42:c0:a8:00:09"


# addresses and subnets


def test_parse_ipv4() -> None:
    assert ipam.parse_ipv4("172.17.0.5") == A("172.17.0.5")


@pytest.mark.parametrize("text", ["", "172.17.0", "172.17.0.256", "172.017.0.1", "::1", "x"])
def test_parse_ipv4_rejects_naming_what_and_value(text: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^invalid gateway {text}: "):
        ipam.parse_ipv4(text, "gateway")


def test_parse_subnet() -> None:
    assert ipam.parse_subnet("172.18.0.0/16") == N("172.18.0.0/16")
    assert ipam.parse_subnet("10.1.2.3/32") == N("10.1.2.3/32")


def test_parse_subnet_host_bits_suggests_network() -> None:
    with pytest.raises(InvalidArgument) as info:
        ipam.parse_subnet("172.17.0.1/16")
    assert str(info.value) == (
        "invalid subnet 172.17.0.1/16: host bits set; did you mean 172.17.0.0/16?"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("172.18.0.0", "expected CIDR notation"),
        ("172.18.0.0/", "expected CIDR notation"),
        ("172.18.0.0/255.255.0.0", "expected CIDR notation"),
        ("172.18.0.0/x", "expected CIDR notation"),
        ("172.18.0/16", "expected CIDR notation"),
        ("172.18.0.0/33", "prefix length must be 0 to 32"),
        ("fd00::/64", "not IPv4"),
    ],
)
def test_parse_subnet_rejects(text: str, why: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^invalid fixed-cidr {text}: {why}"):
        ipam.parse_subnet(text, "fixed-cidr")


def test_parse_interface() -> None:
    bip = ipam.parse_interface("172.18.0.1/16")
    assert bip.ip == A("172.18.0.1")
    assert bip.network == N("172.18.0.0/16")


@pytest.mark.parametrize("text", ["172.18.0.1", "172.18.0.1/40", "bogus/16"])
def test_parse_interface_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^invalid bip {text}: "):
        ipam.parse_interface(text)


# sequential allocation


def test_first_address_skips_network_and_gateway() -> None:
    assert alloc() == A("172.17.0.2")


def test_allocates_after_cursor() -> None:
    assert alloc(after="172.17.0.9") == A("172.17.0.10")
    assert alloc(after="172.17.0.255") == A("172.17.1.0")  # .255 is no broadcast in a /16


def test_skips_addresses_in_use() -> None:
    in_use = {A("172.17.0.3"), A("172.17.0.4")}
    assert alloc(in_use=in_use, after="172.17.0.2") == A("172.17.0.5")


def test_freed_address_not_reused_at_once() -> None:
    # .2 .3 .4 were handed out, then .3 was freed: the next one is .5, not .3.
    in_use = {A("172.17.0.2"), A("172.17.0.4")}
    assert alloc(in_use=in_use, after="172.17.0.4") == A("172.17.0.5")


def test_wraps_around_once_to_pool_start() -> None:
    subnet = N("10.9.0.0/24")
    gateway = A("10.9.0.1")
    in_use = {A("10.9.0.2"), A("10.9.0.253")}
    got = alloc(subnet, reserved={gateway}, in_use=in_use, after="10.9.0.253")
    assert got == A("10.9.0.254")  # never .255, the broadcast address
    got = alloc(subnet, reserved={gateway}, in_use=in_use, after="10.9.0.254")
    assert got == A("10.9.0.3")  # past the end: .0 network, .1 gateway, .2 in use


def test_wrap_finds_hole_before_cursor() -> None:
    subnet = N("10.9.0.0/29")  # .1-.6 usable
    in_use = {A(f"10.9.0.{i}") for i in (2, 3, 5, 6)}
    got = alloc(subnet, reserved={A("10.9.0.1")}, in_use=in_use, after="10.9.0.5")
    assert got == A("10.9.0.4")


def test_cursor_outside_pool_starts_at_pool_start() -> None:
    ip_range = N("172.17.5.0/24")
    assert alloc(ip_range=ip_range, after="172.17.0.7") == A("172.17.5.0")
    assert alloc(ip_range=ip_range, after="172.17.9.1") == A("172.17.5.0")


def test_reserved_default_gateway_skipped() -> None:
    reserved = {GATEWAY, A("172.17.0.2")}
    assert alloc(reserved=reserved) == A("172.17.0.3")


def test_fixed_cidr_range() -> None:
    # The range's own first address is allocatable; only the subnet's are special (as Docker).
    ip_range = N("172.17.5.0/24")
    assert alloc(ip_range=ip_range) == A("172.17.5.0")
    assert alloc(ip_range=ip_range, after="172.17.5.255") == A("172.17.5.0")


def test_fixed_cidr_at_subnet_edges_skips_network_and_broadcast() -> None:
    assert alloc(ip_range=N("172.17.0.0/30"), reserved=set()) == A("172.17.0.1")
    last = alloc(ip_range=N("172.17.255.252/30"), reserved=set(), after="172.17.255.253")
    assert last == A("172.17.255.254")
    wrapped = alloc(ip_range=N("172.17.255.252/30"), reserved=set(), after="172.17.255.254")
    assert wrapped == A("172.17.255.252")


def test_range_outside_subnet_rejected() -> None:
    with pytest.raises(InvalidArgument, match=r"not in subnet 172\.17\.0\.0/16"):
        alloc(ip_range=N("10.0.0.0/24"))


def test_exhaustion() -> None:
    subnet = N("10.9.0.0/30")  # .1 gateway, .2 the only other usable address
    assert alloc(subnet, reserved={A("10.9.0.1")}) == A("10.9.0.2")
    with pytest.raises(PoolExhausted, match=r"^no free address in 10\.9\.0\.0/30$"):
        alloc(subnet, reserved={A("10.9.0.1")}, in_use={A("10.9.0.2")}, after="10.9.0.1")


def test_exhaustion_names_the_range() -> None:
    ip_range = N("172.17.5.0/30")
    in_use = {A(f"172.17.5.{i}") for i in range(4)}
    with pytest.raises(PoolExhausted, match=r"172\.17\.5\.0/30"):
        alloc(ip_range=ip_range, in_use=in_use)


def test_slash_31_has_no_network_or_broadcast_address() -> None:
    # RFC 3021: both addresses of a /31 are usable; one is the gateway, one is left.
    subnet = N("10.9.0.0/31")
    assert alloc(subnet, reserved={A("10.9.0.0")}) == A("10.9.0.1")
    with pytest.raises(PoolExhausted):
        alloc(subnet, reserved={A("10.9.0.0")}, in_use={A("10.9.0.1")})


def test_slash_32_only_address_is_the_gateway() -> None:
    subnet = N("10.9.0.7/32")
    assert alloc(subnet, reserved=set()) == A("10.9.0.7")
    with pytest.raises(PoolExhausted):
        alloc(subnet, reserved={A("10.9.0.7")})


def test_allocation_stays_fast_on_a_busy_slash_16() -> None:
    # 3000 sequential allocations with every earlier one still in use: each call must start
    # at the cursor, not scan (or build) the whole /16.
    in_use: set[IPv4Address] = set()
    after: IPv4Address | None = None
    start = time.perf_counter()
    for _ in range(3000):
        after = ipam.next_free_address(
            SUBNET, ip_range=None, reserved={GATEWAY}, in_use=in_use, after=after
        )
        in_use.add(after)
    assert time.perf_counter() - start < 1.0
    assert after == A("172.17.11.185")  # .2 + 2999 addresses


def test_full_slash_16_reports_exhaustion() -> None:
    usable = {A(i) for i in range(int(SUBNET.network_address) + 2, int(SUBNET.broadcast_address))}
    start = time.perf_counter()
    with pytest.raises(PoolExhausted):
        alloc(in_use=usable, after="172.17.100.0")
    assert time.perf_counter() - start < 2.0


# requested addresses (--ip)


def check(address: str, in_use: set[IPv4Address] | None = None) -> None:
    ipam.check_requested_address(
        SUBNET, A(address), reserved={GATEWAY, A("172.17.0.254")}, in_use=in_use or set()
    )


def test_requested_address_ok() -> None:
    check("172.17.0.5")
    check("172.17.255.254")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.0.0.5", "not in subnet 172.17.0.0/16"),
        ("172.17.0.0", "network address of 172.17.0.0/16"),
        ("172.17.255.255", "broadcast address of 172.17.0.0/16"),
        ("172.17.0.1", "reserved for the gateway"),
        ("172.17.0.254", "reserved for the gateway"),
    ],
)
def test_requested_address_invalid(address: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check(address)
    assert str(info.value) == f"invalid IP address {address}: {why}"


def test_requested_address_in_use() -> None:
    with pytest.raises(Conflict) as info:
        check("172.17.0.5", in_use={A("172.17.0.5")})
    assert str(info.value) == "IP address 172.17.0.5 is already in use"
    assert not isinstance(info.value, PoolExhausted)


def test_requested_address_slash_31_both_usable() -> None:
    subnet = N("10.9.0.0/31")
    ipam.check_requested_address(subnet, A("10.9.0.0"), reserved=set(), in_use=set())
    ipam.check_requested_address(subnet, A("10.9.0.1"), reserved=set(), in_use=set())


# default pools


def test_default_pools_are_dockers() -> None:
    pools = list(ipam.default_pools())
    assert pools[0] == N("172.17.0.0/16")
    assert pools[14] == N("172.31.0.0/16")
    assert pools[15] == N("192.168.0.0/20")
    assert pools[16] == N("192.168.16.0/20")
    assert pools[-1] == N("192.168.240.0/20")
    assert len(pools) == 31


def test_choose_default_subnet_without_routes() -> None:
    assert ipam.choose_default_subnet([]) == N("172.17.0.0/16")


def test_choose_default_subnet_skips_routed_pool() -> None:
    assert ipam.choose_default_subnet([N("172.17.0.0/16")]) == N("172.18.0.0/16")


def test_choose_default_subnet_skips_overlapping_host_route() -> None:
    routes = [N("172.17.3.4/32"), N("172.18.0.0/24")]
    assert ipam.choose_default_subnet(routes) == N("172.19.0.0/16")


def test_choose_default_subnet_ignores_default_route() -> None:
    routes = [N("0.0.0.0/0"), N("10.0.2.0/24")]
    assert ipam.choose_default_subnet(routes) == N("172.17.0.0/16")


def test_choose_default_subnet_after_all_172() -> None:
    taken = [N(f"172.{b}.0.0/16") for b in range(17, 32)]
    assert ipam.choose_default_subnet([], taken) == N("192.168.0.0/20")
    assert ipam.choose_default_subnet([N("172.16.0.0/12")]) == N("192.168.0.0/20")


def test_choose_default_subnet_route_inside_192_168() -> None:
    routes = [N("172.16.0.0/12"), N("192.168.1.0/24")]
    assert ipam.choose_default_subnet(routes) == N("192.168.16.0/20")


def test_choose_default_subnet_exhausted() -> None:
    with pytest.raises(PoolExhausted, match="no free default address pool"):
        ipam.choose_default_subnet([N("172.16.0.0/12"), N("192.168.0.0/16")])
