"""Reconcile recorded containers and endpoints with what is alive (for `dockline gc`).

A container whose process and monitor are both gone (kill -9, a reboot) is marked exited (or
removed, with --rm) and its network released; an endpoint made by `network connect` goes when its
namespace does (for a pid: when that very process is gone, even if something else still holds
the namespace, as in the source document). Live things, and things a live monitor will still
clean up, are left alone.
"""

from __future__ import annotations

from dockline import netns
from dockline.model import Endpoint
from dockline.records import TYPE_CHECKING
from dockline.runtime.state import is_running, monitor_alive
from dockline.runtime.supervise import settle_exited

if TYPE_CHECKING:
    from dockline.engine import Engine, GcReport
    from dockline.store.base import Txn

UNKNOWN_EXIT = 255  # the exit status of a container that died unobserved is unknown


def collect(engine: Engine, txn: Txn, report: GcReport) -> None:
    """Release dead containers, then endpoints whose namespace (or owner) is gone."""
    for container in txn.list_containers():
        if container.state != "running" or is_running(container) or monitor_alive(container):
            continue
        failures = settle_exited(engine, txn, container, UNKNOWN_EXIT)
        report.errors += [str(f) for f in failures]
        report.containers.append(container.id)
    dead = [e for e in txn.list_endpoints() if endpoint_is_dead(txn, e)]
    if dead:
        report.errors += [str(f) for f in engine.detach(txn, dead)]
        report.endpoints += [e.id for e in dead]


def endpoint_is_dead(txn: Txn, endpoint: Endpoint) -> bool:
    if endpoint.container_id is None:
        return not netns.is_alive(endpoint.netns)
    owner = txn.get_container(endpoint.container_id)
    return owner is None or owner.state != "running"
