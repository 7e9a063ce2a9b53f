"""Helpers for tests: throwaway network namespaces made and inspected with iproute2."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NS_PREFIX = "dltest-"


@dataclass(frozen=True)
class TestNetns:
    """A throwaway namespace made by `ip netns add`."""

    __test__ = False  # not a test class, despite its name

    name: str

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def run(
        self, *argv: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside this namespace (`ip netns exec`), `input` on its stdin."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            check=check,
            capture_output=True,
            text=True,
            input=input,
        )

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        """`ip -j ARGS` inside this namespace, parsed (JSON: its values are whatever ip says)."""
        out = self.run("ip", "-j", *args).stdout
        parsed: list[dict[str, Any]] = json.loads(out) if out.strip() else []
        return parsed


def make_netns() -> TestNetns:
    name = NS_PREFIX + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", name], check=True)
    ns = TestNetns(name)
    ns.run("ip", "link", "set", "lo", "up")
    return ns


def delete_netns(ns: TestNetns) -> None:
    subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True)


def netns_inode(pid: str | int) -> int | None:
    """The inode of process `pid`'s network namespace ("self" for ours), or None if it is gone."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def proc_stat_field(pid: int, field: int) -> int:
    """Field `field` (1-based, as proc(5) numbers them) of /proc/PID/stat, read by awk: an
    independent reader to check dockline's own parsing against (a command without spaces or
    parentheses in its name, which awk's splitting would miscount)."""
    out = subprocess.run(
        ["awk", f"{{print ${field}}}", f"/proc/{pid}/stat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll with a deadline (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)
