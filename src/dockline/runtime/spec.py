"""What `dockline run` is asked to start, checked in full before anything is created.

Names, IDs and net modes follow Docker: 64-hex IDs (a unique prefix is accepted on lookup),
names matching `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, and `--net` one of bridge, host, none,
container:NAME_or_ID.
"""

from __future__ import annotations

import os
import re

from dockline import ipam
from dockline.addr import IPv4Address
from dockline.config import DEFAULT_NETWORK
from dockline.errors import InvalidArgument
from dockline.ids import choice, new_id
from dockline.model import NetMode
from dockline.records import Record

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9-]{1,63})*$")
ENV_KEY_RE = re.compile(r"^[^=\s]+$")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ADJECTIVES = (
    "brave",
    "calm",
    "eager",
    "fond",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nifty",
    "quirky",
    "serene",
    "sharp",
    "tender",
    "upbeat",
    "vivid",
    "witty",
    "zen",
)
_NOUNS = (
    "babbage",
    "curie",
    "dijkstra",
    "euler",
    "gauss",
    "hopper",
    "kepler",
    "lovelace",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
)


class ContainerSpec(Record):
    """A validated request to run a container."""

    id: str
    name: str
    command: tuple[str, ...]
    net_mode: NetMode
    hostname: str
    rootfs: str | None = None
    privileged: bool = False
    auto_remove: bool = False
    ip: IPv4Address | None = None
    mac: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    name_generated: bool = False  # drawn by random_name: another is drawn if it is taken

    def environment(self) -> dict[str, str]:
        return environment(self.hostname, self.env)


def environment(hostname: str, env: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """A container's environment (for its command, and for `exec`): Docker's defaults, then
    the `-e` values."""
    full = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    full.update(env)
    return full


def new_container_id() -> str:
    return new_id()


def random_name(retry: int = 0) -> str:
    """Docker-style `adjective_scientist` names; a retry after a taken one appends a number of
    `retry` digits (Docker appends one digit per retry)."""
    name = f"{choice(_ADJECTIVES)}_{choice(_NOUNS)}"
    if retry:
        name += str(int.from_bytes(os.urandom(4)) % 10**retry)
    return name


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidArgument(
            "container name", repr(name), "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


def parse_net_mode(text: str) -> NetMode:
    """`bridge` (default), `host`, `none`, `container:NAME_or_ID`."""
    if text in ("", "default", DEFAULT_NETWORK):
        return NetMode("bridge", DEFAULT_NETWORK)
    if text in ("host", "none"):
        return NetMode(text)  # type: ignore[arg-type]
    if text.startswith("container:"):
        target = text.partition(":")[2]
        if not target:
            raise InvalidArgument("network mode", repr(text), "container: needs a name or ID")
        return NetMode("container", target)
    raise InvalidArgument(
        "network mode", repr(text), "expected bridge, host, none or container:NAME_or_ID"
    )


def parse_env(items: list[str]) -> tuple[tuple[str, str], ...]:
    """`-e KEY=VALUE`, or `-e KEY` to pass the caller's value (as Docker does)."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not ENV_KEY_RE.match(key):
            raise InvalidArgument("environment variable", repr(item), "expected KEY=VALUE")
        if not sep:
            if key not in os.environ:
                continue
            value = os.environ[key]
        pairs.append((key, value))
    return tuple(pairs)


def build_spec(
    command: list[str],
    *,
    name: str | None = None,
    net: str = DEFAULT_NETWORK,
    hostname: str | None = None,
    rootfs: str | None = None,
    privileged: bool = False,
    auto_remove: bool = False,
    ip: str | None = None,
    mac: str | None = None,
    env: list[str] | None = None,
) -> ContainerSpec:
    """Check every input of `run`; the result can be started without further validation."""
    if not command:
        raise InvalidArgument("command", "''", "give the command to run after --")
    net_mode = parse_net_mode(net)
    if (ip or mac) and net_mode.kind != "bridge":
        raise InvalidArgument("network mode", net, "--ip and --mac-address need bridge mode")
    if rootfs is not None and not os.path.isdir(rootfs):
        raise InvalidArgument("rootfs", rootfs, "not a directory")
    container_id = new_container_id()
    if hostname is not None and not HOSTNAME_RE.match(hostname):
        raise InvalidArgument("hostname", repr(hostname), "not a valid host name")
    if hostname is not None and net_mode.kind == "container":
        raise InvalidArgument("hostname", hostname, f"conflicts with --net={net_mode}")
    if hostname is None:
        hostname = os.uname().nodename if net_mode.kind == "host" else container_id[:12]
    return ContainerSpec(
        id=container_id,
        name=check_name(name) if name else random_name(),
        name_generated=not name,
        command=tuple(command),
        net_mode=net_mode,
        hostname=hostname,
        rootfs=os.path.abspath(rootfs) if rootfs else None,
        privileged=privileged,
        auto_remove=auto_remove,
        ip=ipam.parse_ipv4(ip, "IP address") if ip else None,
        mac=ipam.parse_mac(mac) if mac else None,
        env=parse_env(env or []),
    )
