"""The nouns of dockline as immutable records: networks, endpoints, containers, net modes.

Pure data: no I/O here. Past the parsing edge, addresses are `dockline.addr` objects and MACs are
normalised lower-case strings (see `ipam.parse_mac`). An endpoint carries a tuple of addresses so
that IPv6 fits beside IPv4 later, and a container may own several endpoints.

They are `records.Record`s (typing.NamedTuple for the type checker, a plain namedtuple at run
time) rather than dataclasses: importing `dataclasses` (it imports `inspect`) and building each
class cost ~15 ms of every CLI start, more than the rest of an attach; see `records`.
"""

from __future__ import annotations

from dockline.addr import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from dockline.records import TYPE_CHECKING, Record

if TYPE_CHECKING:
    from typing import Literal

    NetModeKind = Literal["bridge", "host", "container", "none"]
    ContainerState = Literal["created", "running", "exited"]

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface


class NetMode(Record):
    """How a container gets its network: bridge (a network name), host, container:X, none."""

    kind: NetModeKind
    target: str = "bridge"  # network name for bridge mode, container name/ID for container mode

    def __str__(self) -> str:
        if self.kind == "container":
            return f"container:{self.target}"
        if self.kind == "bridge":
            return self.target
        return self.kind


class Network(Record):
    """A bridge network: the kernel bridge, its subnet and the gateway address on it."""

    id: str
    name: str
    driver: str
    bridge: str
    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None  # Docker's fixed-cidr: where dynamic addresses come from
    default_gateway: IPv4Address | None = None  # Docker's default-gateway: route via this instead
    mtu: int = 1500
    managed_bridge: bool = True  # False when the user named an existing bridge (Docker's -b)
    created: float = 0.0

    @property
    def route_gateway(self) -> IPv4Address:
        """The address containers route through: default-gateway if set, else the bridge IP."""
        return self.default_gateway or self.gateway


class NetnsRef(Record):
    """Identifies one network namespace, robustly against pid reuse.

    `path` is how we open it (`/proc/PID/ns/net`, or a bind mount); `dev`/`ino` are the namespace's
    identity; `pid` with `pid_start` (the process start time in clock ticks since boot, field 22
    of /proc/PID/stat) say which process owns it, so a recycled pid is never mistaken for it.
    """

    path: str
    dev: int
    ino: int
    pid: int | None = None
    pid_start: int | None = None


class Endpoint(Record):
    """One interface of a namespace on one network: the veth pair and its addresses."""

    id: str
    network_id: str
    netns: NetnsRef
    ifname: str  # the name inside the namespace (eth0)
    host_ifname: str  # the host end, `veth` + 7 hex
    mac: str
    addresses: tuple[IPInterface, ...]
    gateway: IPAddress | None
    container_id: str | None = None
    netns_link: str | None = None  # path of our /run/netns symlink, if we made one
    created: float = 0.0


class Container(Record):
    """A process tree started by `dockline run`, with the namespaces it was given."""

    id: str
    name: str
    net_mode: NetMode
    command: tuple[str, ...]
    state: ContainerState = "created"
    pid: int | None = None
    pid_start: int | None = None
    monitor_pid: int | None = None
    monitor_start: int | None = None
    hostname: str = ""
    rootfs: str | None = None
    privileged: bool = False
    auto_remove: bool = False
    exit_code: int | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    requested_ip: IPv4Address | None = None
    requested_mac: str | None = None
    sandbox_key: str | None = None
    env: tuple[tuple[str, str], ...] = ()  # `-e` values, in order (`exec` sees them too)
