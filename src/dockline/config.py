"""Where dockline keeps its files, and the daemon-style options of the default bridge.

Paths come from flags, then environment (`DOCKLINE_ROOT`, `DOCKLINE_RUN_ROOT`, `DOCKLINE_CONFIG`),
then defaults; they are resolved once at the entry point and passed down, never read from the
environment deeper in. The config file takes Docker's daemon.json keys for the default bridge:
`bridge`, `bip`, `fixed-cidr`, `default-gateway`, `mtu`.
"""

from __future__ import annotations

from dockline.addr import IPv4Address, IPv4Interface, IPv4Network
from dockline.errors import ConfigError, DocklineError
from dockline.records import TYPE_CHECKING, Record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TypeVar

    T = TypeVar("T")

DEFAULT_ROOT = "/var/lib/dockline"
DEFAULT_RUN_ROOT = "/run/dockline"
DEFAULT_CONFIG = "/etc/dockline/daemon.json"
DEFAULT_NETNS_DIR = "/run/netns"
DEFAULT_BRIDGE = "dockline0"
DEFAULT_NETWORK = "bridge"
KNOWN_KEYS = frozenset({"bridge", "bip", "fixed-cidr", "default-gateway", "mtu"})


class Paths(Record):
    """The directories one dockline instance works in."""

    root: str = DEFAULT_ROOT  # state (SQLite store), 0700
    run_root: str = DEFAULT_RUN_ROOT  # runtime files (container logs), 0700
    config: str = DEFAULT_CONFIG
    netns_dir: str = DEFAULT_NETNS_DIR  # where namespaces are made visible to `ip netns`


def resolve_paths(
    env: Mapping[str, str],
    *,
    root: str | None = None,
    run_root: str | None = None,
    config: str | None = None,
) -> Paths:
    """Flags win over the environment, which wins over the defaults."""
    return Paths(
        root=root or env.get("DOCKLINE_ROOT") or DEFAULT_ROOT,
        run_root=run_root or env.get("DOCKLINE_RUN_ROOT") or DEFAULT_RUN_ROOT,
        config=config or env.get("DOCKLINE_CONFIG") or DEFAULT_CONFIG,
    )


class BridgeConfig(Record):
    """Docker's daemon options for the default bridge network."""

    bridge: str | None = None  # use this existing bridge instead of creating dockline0
    bip: IPv4Interface | None = None  # the bridge's address and the subnet
    fixed_cidr: IPv4Network | None = None  # where dynamic addresses come from
    default_gateway: IPv4Address | None = None
    mtu: int | None = None


def load_bridge_config(path: str) -> BridgeConfig:
    """Read the config file; a missing file means all defaults."""
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, after the import
    except FileNotFoundError:
        return BridgeConfig()
    except OSError as err:
        raise ConfigError(f"config file {path}: {err}") from err
    import json  # only when there is a file: it costs start-up time

    with f:
        try:
            raw = json.load(f)
        except (OSError, ValueError) as err:
            raise ConfigError(f"config file {path}: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: expected a JSON object")
    return parse_bridge_config(raw, path)


def parse_bridge_config(raw: Mapping[str, object], origin: str = "config") -> BridgeConfig:
    """Validate the daemon.json keys; unknown keys are an error, as with dockerd."""
    from dockline import ipam

    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown option {unknown[0]!r} (known: {sorted(KNOWN_KEYS)})")
    try:
        cfg = BridgeConfig(
            bridge=_opt(raw, "bridge", _bridge_name),
            bip=_opt(raw, "bip", lambda s: ipam.parse_interface(s, "bip")),
            fixed_cidr=_opt(raw, "fixed-cidr", lambda s: ipam.parse_subnet(s, "fixed-cidr")),
            default_gateway=_opt(
                raw, "default-gateway", lambda s: ipam.parse_ipv4(s, "default-gateway")
            ),
            mtu=_opt_mtu(raw),
        )
    except DocklineError as err:
        raise ConfigError(f"{origin}: {err}") from err
    _check_consistent(cfg, origin)
    return cfg


def _bridge_name(name: str) -> str:
    from dockline.netlink import validate_ifname

    validate_ifname(name)
    return name


def _check_consistent(cfg: BridgeConfig, origin: str) -> None:
    if cfg.bridge and cfg.bip:
        raise ConfigError(f"{origin}: bridge and bip are mutually exclusive (as in dockerd)")
    if cfg.bip and (
        cfg.bip.network.prefixlen > 30
        or cfg.bip.ip in (cfg.bip.network.network_address, cfg.bip.network.broadcast_address)
    ):
        raise ConfigError(
            f"{origin}: invalid bip {cfg.bip}: needs a prefix of /30 or shorter and an address "
            "that is not the subnet's network or broadcast address"
        )
    if cfg.bip and not _usable_bridge_address(cfg.bip.ip, cfg.bip.network.prefixlen):
        raise ConfigError(
            f"{origin}: invalid bip {cfg.bip}: needs a unicast address (not loopback, multicast,"
            " link-local or reserved) and a prefix of /8 or longer"
        )
    if cfg.bip and cfg.fixed_cidr and not cfg.fixed_cidr.subnet_of(cfg.bip.network):
        raise ConfigError(f"{origin}: fixed-cidr {cfg.fixed_cidr} is not inside bip {cfg.bip}")
    if cfg.bip and cfg.default_gateway and cfg.default_gateway not in cfg.bip.network:
        raise ConfigError(
            f"{origin}: default-gateway {cfg.default_gateway} is not inside bip {cfg.bip}"
        )
    if cfg.bip and cfg.default_gateway in (
        cfg.bip.network.network_address,
        cfg.bip.network.broadcast_address,
    ):
        raise ConfigError(
            f"{origin}: default-gateway {cfg.default_gateway} is the network or broadcast address"
            f" of bip {cfg.bip}"
        )


def _usable_bridge_address(address: IPv4Address, prefixlen: int) -> bool:
    """A bridge's own address must be one a host may have, in a subnet that is not a /0 that
    would masquerade everything (or a /1-/7 that covers most of the Internet)."""
    odd = (
        address.is_loopback
        or address.is_multicast
        or address.is_link_local
        or address.is_unspecified
        or address.is_reserved
    )
    return not odd and prefixlen >= 8


def _opt_str(raw: Mapping[str, object], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"option {key!r}: expected a non-empty string, got {value!r}")
    return value


def _opt(raw: Mapping[str, object], key: str, parse: Callable[[str], T]) -> T | None:
    value = _opt_str(raw, key)
    return None if value is None else parse(value)


def _opt_mtu(raw: Mapping[str, object]) -> int | None:
    value = raw.get("mtu")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 68 <= value <= 65535:
        raise ConfigError(f"invalid mtu {value!r}: expected an integer from 68 to 65535")
    return value
