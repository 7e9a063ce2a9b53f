"""End-to-end helpers: the dockline CLI run as a subprocess inside a throwaway host namespace,
with a private state root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nslab import TestNetns

DOCKLINE = str(Path(sys.executable).parent / "dockline")


@dataclass
class Dockline:
    """Runs `dockline ARGS` in `ns` with its own state; checks, parses, waits."""

    ns: TestNetns
    state: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKLINE_ROOT": str(self.state / "lib"),
            "DOCKLINE_RUN_ROOT": str(self.state / "run"),
            "DOCKLINE_CONFIG": str(self.state / "daemon.json"),
        }

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns.name, DOCKLINE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"dockline {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.ns.name, DOCKLINE, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def inspect(self, name: str) -> dict[str, Any]:
        inspected: dict[str, Any] = json.loads(self("inspect", name).stdout)[0]
        return inspected

    def network(self, name: str = "bridge") -> dict[str, Any]:
        inspected: dict[str, Any] = json.loads(self("network", "inspect", name).stdout)[0]
        return inspected

    def config(self, **options: object) -> None:
        (self.state / "daemon.json").write_text(json.dumps(options))

    def host_links(self) -> list[dict[str, Any]]:
        return self.ns.ip_json("link", "show")

    def veths(self) -> list[str]:
        return sorted(
            str(link["ifname"])
            for link in self.host_links()
            if str(link["ifname"]).startswith("veth")
        )
