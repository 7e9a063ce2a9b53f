"""dockline's Python API: the operations of the CLI, for programs and test labs.

    from dockline.api import Engine, Paths, run, stop, remove, inspect_container

    with Engine(Paths(root="/tmp/lab/state", run_root="/tmp/lab/run")) as engine:
        endpoint = engine.connect("bridge", netns_path="/run/netns/lab1")  # the five steps
        container = run(engine, ["sleep", "30"], name="web")             # detached, monitored
        print(inspect_container(engine, "web")["NetworkSettings"]["IPAddress"])
        remove(engine, "web", force=True)
        engine.disconnect("bridge", netns_path="/run/netns/lab1")

An engine works on the network namespace it was created in (its "host"), whichever thread or
namespace later calls it: create it inside a throwaway namespace to build a lab there.
"""

from __future__ import annotations

from dockline.config import BridgeConfig, Paths
from dockline.engine import Engine, GcReport
from dockline.model import Container, Endpoint, Network
from dockline.records import TYPE_CHECKING
from dockline.runtime.control import exec_in, get, kill, lookup, remove, stop
from dockline.runtime.monitor import run_detached
from dockline.runtime.spec import build_spec

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BridgeConfig",
    "Container",
    "Endpoint",
    "Engine",
    "GcReport",
    "Network",
    "Paths",
    "exec_in",
    "inspect_container",
    "kill",
    "remove",
    "run",
    "stop",
]


def run(
    engine: Engine,
    command: list[str],
    *,
    name: str | None = None,
    net: str = "bridge",
    hostname: str | None = None,
    rootfs: str | None = None,
    privileged: bool = False,
    auto_remove: bool = False,
    ip: str | None = None,
    mac: str | None = None,
    env: list[str] | None = None,
) -> Container:
    """Start a container in the background, as `dockline run -d` with the same options."""
    spec = build_spec(
        command,
        name=name,
        net=net,
        hostname=hostname,
        rootfs=rootfs,
        privileged=privileged,
        auto_remove=auto_remove,
        ip=ip,
        mac=mac,
        env=env,
    )
    with engine.in_host():  # the monitor is forked here, so it lives in the engine's host
        run_detached(engine.paths, spec, engine.bridge_config)
    return get(engine, spec.id)


def inspect_container(engine: Engine, name: str) -> dict[str, Any]:
    """`docker inspect` JSON of one container."""
    from dockline.inspect import container_object

    with engine.store.transaction() as txn:
        return container_object(txn, lookup(txn, name))
