"""Many containers on one host: attach N, tear all N down; how the per-container cost grows.

For each N (10, 100, 1,000) a fresh host: dockline attaches N namespaces through the API, one
`connect` each (timed one by one and in total), then tears them all down with one
`Engine.detach` of every endpoint in one store transaction (what dockline does about the
kernel's growth: one group delete, so the kernel pays its RCU grace periods once per batch
instead of once per veth). The anchor is `ip -batch` doing the same per container (two
processes), torn down the same way, as the issue's floor: one `ip -batch` that moves every
veth into one link group and deletes the group (`ip link del group`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from benchmarks.attach import IpBatchMethod, engine_in
from benchmarks.lab import Lab, spawn


@dataclass
class BulkResult:
    """One N: per-container attach samples (s), total attach and teardown (s)."""

    n: int
    attach: list[float] = field(default_factory=list)
    attach_total: float = 0.0
    teardown_total: float = 0.0
    failures: int = 0


def dockline_bulk(lab: Lab, n: int) -> BulkResult:
    """Attach `n` namespaces through the API, then detach all of them in one batch."""
    host = lab.host("bulk")
    engine = engine_in(lab, host)
    paths = lab.netns(n + 1, "b")
    engine.connect(netns_path=paths[n])  # warm-up: the network, bridge and firewall
    engine.disconnect(netns_path=paths[n])
    result = BulkResult(n)
    start = time.perf_counter()
    for path in paths[:n]:
        t0 = time.perf_counter()
        engine.connect(netns_path=path)
        result.attach.append(time.perf_counter() - t0)
    result.attach_total = time.perf_counter() - start
    start = time.perf_counter()
    with engine.store.transaction() as txn:
        failures = engine.detach(txn, txn.list_endpoints())
    result.teardown_total = time.perf_counter() - start
    result.failures = len(failures)
    _check_no_veths(host.name)
    return result


def ip_bulk(lab: Lab, n: int, *, teardown: bool) -> BulkResult:
    """The same with `ip`: two processes per container, then one `ip -batch` group delete."""
    method = IpBatchMethod("ip", "ip -batch")
    method.prepare(lab, n)
    result = BulkResult(n)
    start = time.perf_counter()
    for i in range(n):
        result.attach.append(method.attach(i))
    result.attach_total = time.perf_counter() - start
    if teardown:
        moves = "".join(f"link set veth{i:07x} group {IP_GROUP}\n" for i in range(n))
        script = f"{moves}link del group {IP_GROUP}\n".encode()
        with method.host.entered():
            result.teardown_total = spawn(["ip", "-batch", "-"], stdin=script).check("ip").seconds
    return result


IP_GROUP = 7001  # the anchor's link group: any but 0 (default); the host holds nothing else


def _check_no_veths(host: str) -> None:
    """Independent check that the batch really removed every veth (read with iproute2)."""
    out = spawn(["ip", "-n", host, "-o", "link", "show", "type", "veth"]).check("ip link").stdout
    if out.strip():
        raise RuntimeError(f"batched detach left veths in {host}: {len(out.splitlines())}")
