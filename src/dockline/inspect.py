"""Docker's `inspect` JSON shapes, built from our records (pure: no I/O).

Field names are Docker's, so scripts written for `docker inspect` work: `Id`, `Name`,
`State.Pid`, `HostConfig.NetworkMode`, `NetworkSettings.{SandboxKey, IPAddress, IPPrefixLen,
Gateway, MacAddress, Networks}`; and for networks `Name`, `Id`, `Driver`, `IPAM.Config`,
`Containers`, `Options`.

The `*_json` builders are pure; `container_object` and `network_object` read what they need
through a store transaction, for the CLI and the Python API alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dockline.addr import IPv4Interface
from dockline.model import Container, Endpoint, Network
from dockline.records import TYPE_CHECKING
from dockline.runtime.spec import DEFAULT_PATH
from dockline.runtime.state import is_running, status_word

if TYPE_CHECKING:
    from typing import Any

    from dockline.store.base import Txn

ZERO_TIME = "0001-01-01T00:00:00Z"


def timestamp(seconds: float | None) -> str:
    """RFC 3339 with nanoseconds, as Docker prints it."""
    if not seconds:
        return ZERO_TIME
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def container_json(
    container: Container, *, running: bool, endpoints: list[Endpoint], networks: dict[str, Network]
) -> dict[str, Any]:
    """`docker inspect CONTAINER` for one container."""
    primary = endpoints[0] if endpoints else None
    return {
        "Id": container.id,
        "Created": timestamp(container.created),
        "Path": container.command[0],
        "Args": list(container.command[1:]),
        "State": {
            "Status": status_word(container, running),
            "Running": running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": container.pid if running and container.pid else 0,
            "ExitCode": 0 if running or container.exit_code is None else container.exit_code,
            "Error": "",
            "StartedAt": timestamp(container.started),
            "FinishedAt": timestamp(None if running else container.finished),
        },
        "Name": "/" + container.name,
        "HostConfig": {
            "NetworkMode": str(container.net_mode),
            "Privileged": container.privileged,
            "AutoRemove": container.auto_remove,
        },
        "Config": {
            "Hostname": container.hostname,
            "Cmd": list(container.command),
            "Env": [f"{k}={v}" for k, v in {"PATH": DEFAULT_PATH, **dict(container.env)}.items()],
            "MacAddress": container.requested_mac or "",
        },
        "NetworkSettings": network_settings(container, primary, endpoints, networks),
    }


def network_settings(
    container: Container,
    primary: Endpoint | None,
    endpoints: list[Endpoint],
    networks: dict[str, Network],
) -> dict[str, Any]:
    v4 = _first_v4(primary)
    return {
        "SandboxID": container.id if container.sandbox_key else "",
        "SandboxKey": container.sandbox_key or "",
        "Gateway": str(primary.gateway) if primary and primary.gateway else "",
        "IPAddress": str(v4.ip) if v4 else "",
        "IPPrefixLen": v4.network.prefixlen if v4 else 0,
        "MacAddress": primary.mac if primary else "",
        "Networks": {
            networks[e.network_id].name: endpoint_settings(e, networks[e.network_id])
            for e in endpoints
            if e.network_id in networks
        },
    }


def endpoint_settings(endpoint: Endpoint, network: Network) -> dict[str, Any]:
    v4 = _first_v4(endpoint)
    return {
        "NetworkID": network.id,
        "EndpointID": endpoint.id,
        "Gateway": str(endpoint.gateway) if endpoint.gateway else "",
        "IPAddress": str(v4.ip) if v4 else "",
        "IPPrefixLen": v4.network.prefixlen if v4 else 0,
        "MacAddress": endpoint.mac,
        "HostInterface": endpoint.host_ifname,
        "Interface": endpoint.ifname,
        "SandboxKey": endpoint.netns_link or endpoint.netns.path,
    }


def network_json(
    network: Network, *, endpoints: list[Endpoint], containers: dict[str, Container]
) -> dict[str, Any]:
    """`docker network inspect NETWORK`."""
    ipam_config: dict[str, Any] = {"Subnet": str(network.subnet), "Gateway": str(network.gateway)}
    if network.ip_range is not None:
        ipam_config["IPRange"] = str(network.ip_range)
    if network.default_gateway is not None:  # Docker's name for daemon.json's default-gateway
        ipam_config["AuxiliaryAddresses"] = {"DefaultGatewayIPv4": str(network.default_gateway)}
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": timestamp(network.created),
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam_config]},
        "Internal": False,
        "Attachable": False,
        "Containers": {
            (e.container_id or e.id): _attached(e, containers.get(e.container_id or ""))
            for e in endpoints
        },
        "Options": {
            "com.docker.network.bridge.name": network.bridge,
            "com.docker.network.driver.mtu": str(network.mtu),
            "com.docker.network.bridge.default_bridge": str(network.name == "bridge").lower(),
        },
        "Labels": {},
    }


def _attached(endpoint: Endpoint, container: Container | None) -> dict[str, str]:
    v4 = _first_v4(endpoint)
    name = container.name if container else f"netns:{endpoint.netns_link or endpoint.netns.path}"
    return {
        "Name": name,
        "EndpointID": endpoint.id,
        "MacAddress": endpoint.mac,
        "IPv4Address": str(v4) if v4 else "",
        "IPv6Address": "",
        "HostInterface": endpoint.host_ifname,
    }


def _first_v4(endpoint: Endpoint | None) -> IPv4Interface | None:
    if endpoint is None:
        return None
    return next((a for a in endpoint.addresses if isinstance(a, IPv4Interface)), None)


def container_object(txn: Txn, container: Container) -> dict[str, Any]:
    """`docker inspect CONTAINER`, with its endpoints and networks read from the store."""
    networks = {n.id: n for n in txn.list_networks()}
    return container_json(
        container,
        running=is_running(container),
        endpoints=txn.list_endpoints(container_id=container.id),
        networks=networks,
    )


def network_object(txn: Txn, network: Network) -> dict[str, Any]:
    """`docker network inspect NETWORK`, with its endpoints and containers read from the store."""
    containers = {c.id: c for c in txn.list_containers()}
    return network_json(
        network, endpoints=txn.list_endpoints(network_id=network.id), containers=containers
    )
