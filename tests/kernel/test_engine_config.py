"""Docker's daemon options for the default bridge, through the engine, on the real kernel.

Each option is given both ways the API takes it: `Engine(paths, bridge_config=BridgeConfig(...))`
and a daemon.json at `paths.config`. The engine acts; `ip -j` in the namespaces checks. Addresses
are documentation ones (198.51.100.0/24), inside throwaway namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_lab import Lab, open_lab

from dockline.addr import IPv4Address, IPv4Interface, IPv4Network
from dockline.api import BridgeConfig
from dockline.errors import ConfigError, Conflict, InvalidArgument, NotFound, PoolExhausted
from dockline.inspect import network_object
from nslab import TestNetns

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")

BIP = IPv4Interface("198.51.100.1/24")
MakeLab = Callable[..., Lab]


def as_json(config: BridgeConfig) -> dict[str, object]:
    """The daemon.json spelling of a BridgeConfig."""
    keys = {"fixed_cidr": "fixed-cidr", "default_gateway": "default-gateway"}
    return {
        keys.get(k, k): v if isinstance(v, int | None) or k == "bridge" else str(v)
        for k, v in config._asdict().items()
        if v is not None
    }


@pytest.fixture
def make_lab(
    host_ns: TestNetns, tmp_path: Path, netns_factory: Callable[[], TestNetns]
) -> Iterator[MakeLab]:
    """`make_lab(config, via=...)`: a lab whose engine has `config` as a parameter ("param"),
    as a daemon.json ("file"), or `raw` JSON written to the file as it is."""
    with contextlib.ExitStack() as stack:

        def make(
            config: BridgeConfig | None = None, *, via: str = "param", raw: object = None
        ) -> Lab:
            path = tmp_path / "daemon.json"
            if raw is not None:
                path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
            elif via == "file" and config is not None:
                path.write_text(json.dumps(as_json(config)))
            given = config if via == "param" else None
            return stack.enter_context(
                open_lab(host_ns, tmp_path, netns_factory, bridge_config=given)
            )

        yield make


def addresses(lab: Lab, ifname: str, ns: TestNetns | None = None) -> list[str]:
    return lab.ipv4(ns or lab.host, ifname)


def default_routes(ns: TestNetns) -> list[tuple[str, str]]:
    return [(r["gateway"], r["dev"]) for r in ns.ip_json("route", "show", "default")]


def assert_nothing_made(lab: Lab) -> None:
    """A refused config leaves the host untouched: no bridge, record or firewall."""
    assert {link["ifname"] for link in lab.links()} == {"lo"}
    assert lab.count("networks") == 0 and lab.count("endpoints") == 0
    assert "dockline" not in lab.ruleset()


VIA = pytest.mark.parametrize("via", ["param", "file"])


# -- bip, fixed-cidr, default-gateway, mtu ----------------------------------------------------


@VIA
def test_bip_is_the_bridge_address_and_the_subnet(make_lab: MakeLab, via: str) -> None:
    lab = make_lab(BridgeConfig(bip=BIP), via=via)
    network = lab.engine.network()
    assert (network.subnet, network.gateway) == (IPv4Network("198.51.100.0/24"), BIP.ip)
    assert addresses(lab, "dockline0") == ["198.51.100.1/24"]
    ns = lab.container_ns()
    endpoint = lab.engine.connect(netns_path=ns.path)
    assert addresses(lab, "eth0", ns) == ["198.51.100.2/24"] == [str(endpoint.addresses[0])]
    assert default_routes(ns) == [("198.51.100.1", "eth0")]
    assert lab.host.run("ping", "-c1", "-W2", "198.51.100.2").returncode == 0


@VIA
def test_fixed_cidr_is_where_addresses_come_from(make_lab: MakeLab, via: str) -> None:
    fixed = IPv4Network("198.51.100.128/25")
    lab = make_lab(BridgeConfig(bip=BIP, fixed_cidr=fixed), via=via)
    spaces = [lab.container_ns() for _ in range(3)]
    endpoints = [lab.engine.connect(netns_path=ns.path) for ns in spaces]
    ips = [e.addresses[0].ip for e in endpoints]
    assert all(ip in fixed for ip in ips) and len(set(ips)) == 3
    assert ips[0] == IPv4Address("198.51.100.128")
    for ns, endpoint in zip(spaces, endpoints, strict=True):
        assert addresses(lab, "eth0", ns) == [str(endpoint.addresses[0])]  # /24, not /25
    assert addresses(lab, "dockline0") == ["198.51.100.1/24"]  # the bridge keeps bip
    chosen = lab.engine.connect(netns_path=lab.container_ns().path, ip=IPv4Address("198.51.100.9"))
    assert str(chosen.addresses[0]) == "198.51.100.9/24"  # --ip may be anywhere in the subnet


def test_fixed_cidr_inside_the_default_subnet(make_lab: MakeLab) -> None:
    lab = make_lab(BridgeConfig(fixed_cidr=IPv4Network("172.17.5.0/24")), via="file")
    endpoint = lab.engine.connect(netns_path=lab.container_ns().path)
    assert endpoint.addresses == (IPv4Interface("172.17.5.0/16"),)
    assert addresses(lab, "dockline0") == ["172.17.0.1/16"]


@VIA
def test_default_gateway_routes_and_is_never_handed_out(make_lab: MakeLab, via: str) -> None:
    gateway = IPv4Address("198.51.100.3")
    pool = IPv4Network("198.51.100.0/29")  # .1 is the bridge, .3 the default gateway
    lab = make_lab(BridgeConfig(bip=BIP, fixed_cidr=pool, default_gateway=gateway), via=via)
    spaces = [lab.container_ns() for _ in range(5)]
    endpoints = [lab.engine.connect(netns_path=ns.path) for ns in spaces]
    assert [str(e.addresses[0].ip) for e in endpoints] == [
        f"198.51.100.{i}" for i in (2, 4, 5, 6, 7)
    ]
    assert all(e.gateway == gateway for e in endpoints)
    for ns in spaces:
        assert default_routes(ns) == [("198.51.100.3", "eth0")]
    assert addresses(lab, "dockline0") == ["198.51.100.1/24"]  # not given to the bridge either
    with pytest.raises(PoolExhausted):
        lab.engine.connect(netns_path=lab.container_ns().path)
    with pytest.raises(InvalidArgument, match=r"198\.51\.100\.3"):
        lab.engine.connect(netns_path=lab.container_ns().path, ip=gateway)
    network = lab.engine.network()
    with lab.engine.store.transaction() as txn:
        [ipam_config] = network_object(txn, network)["IPAM"]["Config"]
    assert ipam_config["AuxiliaryAddresses"] == {"DefaultGatewayIPv4": "198.51.100.3"}  # Docker's


@VIA
@pytest.mark.parametrize("mtu", [1400, 1000], ids=["1400", "below-ipv6-minimum"])
def test_mtu_on_the_bridge_and_both_veth_ends(make_lab: MakeLab, via: str, mtu: int) -> None:
    """Also below 1280, where links have no IPv6 at all (and refuse IPv6 settings)."""
    lab = make_lab(BridgeConfig(mtu=mtu), via=via)
    ns = lab.container_ns()
    endpoint = lab.engine.connect(netns_path=ns.path)
    assert lab.must_link("dockline0")["mtu"] == mtu
    assert lab.must_link(endpoint.host_ifname)["mtu"] == mtu
    [eth0] = ns.ip_json("link", "show", "dev", "eth0")
    assert eth0["mtu"] == mtu and "UP" in eth0["flags"]
    assert lab.engine.network().mtu == mtu


# -- bridge: an existing bridge, used as it is ---------------------------------------------------


def make_bridge(lab: Lab, name: str = "br-lab", address: str | None = str(BIP)) -> None:
    lab.host.run("ip", "link", "add", name, "type", "bridge")
    if address is not None:
        lab.host.run("ip", "addr", "add", address, "dev", name)
    lab.host.run("ip", "link", "set", name, "up")


@VIA
def test_an_existing_bridge_is_used_as_it_is(make_lab: MakeLab, via: str) -> None:
    lab = make_lab(BridgeConfig(bridge="br-lab"), via=via)
    make_bridge(lab)
    ns = lab.container_ns()
    endpoint = lab.engine.connect(netns_path=ns.path)
    network = lab.engine.network()
    assert network.bridge == "br-lab" and not network.managed_bridge
    assert network.subnet == IPv4Network("198.51.100.0/24") and network.gateway == BIP.ip
    assert lab.link("dockline0") is None
    assert lab.must_link(endpoint.host_ifname)["master"] == "br-lab"
    assert addresses(lab, "eth0", ns) == ["198.51.100.2/24"]
    assert default_routes(ns) == [("198.51.100.1", "eth0")]
    assert addresses(lab, "br-lab") == ["198.51.100.1/24"]
    lab.engine.disconnect(netns_path=ns.path)
    lab.engine.gc()
    assert addresses(lab, "br-lab") == ["198.51.100.1/24"]  # ours to use, never to remove


def test_a_failed_first_connect_keeps_the_users_bridge(make_lab: MakeLab) -> None:
    lab = make_lab(BridgeConfig(bridge="br-lab"))
    make_bridge(lab)
    ns = lab.container_ns()
    ns.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
    with pytest.raises(Conflict):
        lab.engine.connect(netns_path=ns.path)
    assert addresses(lab, "br-lab") == ["198.51.100.1/24"]
    assert "UP" in lab.must_link("br-lab")["flags"]
    assert lab.count("networks") == 0


def test_an_existing_bridge_without_an_address_is_a_config_error(make_lab: MakeLab) -> None:
    lab = make_lab(BridgeConfig(bridge="br-lab"), via="file")
    make_bridge(lab, address=None)
    with pytest.raises(ConfigError, match="br-lab"):
        lab.engine.connect(netns_path=lab.container_ns().path)
    assert lab.count("networks") == 0 and lab.count("endpoints") == 0
    assert lab.veths() == set()
    assert "dockline" not in lab.ruleset()


def test_a_missing_bridge_is_not_found(make_lab: MakeLab) -> None:
    lab = make_lab(BridgeConfig(bridge="br-none"), via="file")
    with pytest.raises(NotFound, match="br-none"):
        lab.engine.network()
    assert_nothing_made(lab)


# -- refused configs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"bip": "198.51.100.300/24"}, "198.51.100.300/24"),
        ({"bip": "198.51.100.1"}, "198.51.100.1"),
        ({"bip": "2001:db8::1/64"}, "2001:db8::1/64"),
        ({"bip": "198.51.100.1/33"}, "198.51.100.1/33"),
        ({"bip": "0.0.0.1/0"}, "0.0.0.1/0"),  # would masquerade everything
        ({"bip": "10.0.0.1/7"}, "10.0.0.1/7"),
        ({"bip": "127.0.0.1/8"}, "127.0.0.1/8"),
        ({"bip": "224.0.0.1/8"}, "224.0.0.1/8"),
        ({"bip": "169.254.0.1/16"}, "169.254.0.1/16"),
        ({"bip": "198.51.100.1/24", "default-gateway": "198.51.100.0"}, "198.51.100.0"),
        ({"bip": "198.51.100.1/24", "default-gateway": "198.51.100.255"}, "198.51.100.255"),
        ({"fixed-cidr": "198.51.100.5/24"}, "198.51.100.5/24"),
        ({"fixed-cidr": "nope"}, "nope"),
        ({"default-gateway": "gateway"}, "gateway"),
        ({"default-gateway": "198.51.100.1/24"}, "198.51.100.1/24"),
        ({"mtu": "1500"}, "'1500'"),
        ({"mtu": 10}, "10"),
        ({"mtu": 70000}, "70000"),
        ({"mtu": True}, "True"),
        ({"bridge": ""}, "bridge"),
        ({"bridge": 7}, "7"),
        ({"bip": "198.51.100.1/24", "fixed-cidr": "203.0.113.0/25"}, "203.0.113.0/25"),
        ({"bip": "198.51.100.1/24", "default-gateway": "203.0.113.1"}, "203.0.113.1"),
        ({"fixed-cidr": "10.1.0.0/24"}, "10.1.0.0/24"),  # not inside the default 172.17.0.0/16
        ({"default-gateway": "10.1.0.1"}, "10.1.0.1"),
        ({"bip": "198.51.100.1/24", "ipv6": True}, "'ipv6'"),
        ({"Bip": "198.51.100.1/24"}, "'Bip'"),
        ([], "JSON object"),
        ("{not json", "daemon.json"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "-".join(f"{k}={w}" for k, w in v.items()),
)
def test_a_bad_config_file_is_a_config_error_naming_the_value(
    make_lab: MakeLab, raw: Any, named: str
) -> None:
    lab = make_lab(raw=raw)
    with pytest.raises(ConfigError) as caught:
        lab.engine.connect(netns_path=lab.container_ns().path)
    assert named in str(caught.value)
    assert_nothing_made(lab)


def test_the_config_parameter_wins_over_the_file(make_lab: MakeLab, tmp_path: Path) -> None:
    (tmp_path / "daemon.json").write_text('{"bip": "not an address"}')
    lab = make_lab(BridgeConfig(bip=BIP), via="param")
    assert lab.engine.network().gateway == BIP.ip


def test_no_config_file_means_the_defaults(make_lab: MakeLab) -> None:
    lab = make_lab()
    network = lab.engine.network()
    assert (network.bridge, network.subnet, network.mtu) == (
        "dockline0",
        IPv4Network("172.17.0.0/16"),
        1500,
    )


# -- bugs: refused too late, or not at all -------------------------------------------------------


@pytest.mark.parametrize("name", ["this-name-is-far-too-long", "a/b"])
def test_a_bad_bridge_name_is_a_config_error(make_lab: MakeLab, name: str) -> None:
    lab = make_lab(raw={"bridge": name})
    with pytest.raises(ConfigError, match=name):
        lab.engine.network()
    assert_nothing_made(lab)


def test_a_bridge_option_naming_a_non_bridge_is_refused(make_lab: MakeLab) -> None:
    lab = make_lab(BridgeConfig(bridge="notabridge"))
    lab.host.run("ip", "link", "add", "notabridge", "type", "veth", "peer", "name", "nb1")
    lab.host.run("ip", "addr", "add", str(BIP), "dev", "notabridge")
    with pytest.raises((ConfigError, Conflict), match="notabridge"):
        lab.engine.network()
    assert lab.count("networks") == 0
    assert "dockline" not in lab.ruleset()


def test_bridge_and_bip_together_are_refused(make_lab: MakeLab) -> None:
    lab = make_lab(
        raw={"bridge": "br-lab", "bip": "203.0.113.1/24"},
    )
    make_bridge(lab)
    with pytest.raises(ConfigError, match="bip"):
        lab.engine.network()
    assert lab.count("networks") == 0


def test_a_bip_on_the_broadcast_address_is_refused(make_lab: MakeLab) -> None:
    lab = make_lab(raw={"bip": "198.51.100.255/24"})
    with pytest.raises(ConfigError, match=r"198\.51\.100\.255"):
        lab.engine.network()
    assert_nothing_made(lab)
