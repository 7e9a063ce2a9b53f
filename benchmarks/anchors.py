"""The anchors' Debian packages: which are needed, which are there, installing the missing ones.

The suite installs its anchors itself (`apt-get install`, as root on Debian) unless told not to
(`--no-install`, as CI does: there only what scripts/setup.sh installed is used, and the rows of
a missing anchor say so).
"""

from __future__ import annotations

import os
import shutil
import subprocess

# anchor -> (Debian packages, files that prove it is installed)
PACKAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "iproute2": (("iproute2",), ("ip",)),
    "cni": (("containernetworking-plugins",), ("/usr/lib/cni/bridge", "/usr/lib/cni/host-local")),
    "netavark": (("netavark", "iptables"), ("/usr/lib/podman/netavark", "iptables")),
    "podman": (("podman", "runc", "netavark", "iptables"), ("podman", "runc", "conmon")),
    "docker": (("docker.io", "runc"), ("/usr/sbin/dockerd", "/usr/bin/docker", "runc")),
    "iperf3": (("iperf3",), ("iperf3",)),
    "time": (("time",), ("/usr/bin/time",)),
    "busybox": (("busybox-static",), ("/bin/busybox",)),
}
# used by --quick when present
QUICK = ("iproute2", "cni", "netavark", "podman", "busybox", "iperf3")


def _present(path: str) -> bool:
    return os.path.exists(path) if path.startswith("/") else shutil.which(path) is not None


def missing(anchors: list[str]) -> list[str]:
    return [a for a in anchors if not all(_present(p) for p in PACKAGES[a][1])]


def install(anchors: list[str]) -> str:
    """apt-get install the packages of the missing anchors; returns apt's complaint or ""."""
    wanted = sorted({pkg for a in missing(anchors) for pkg in PACKAGES[a][0]})
    if not wanted:
        return ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root on a Debian system: cannot install " + " ".join(wanted)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *wanted]
    print(f"installing anchors: {' '.join(wanted)}", flush=True)
    result = subprocess.run(argv, check=False, env=env, capture_output=True, text=True)
    if result.returncode != 0:  # the package lists may be stale or absent: refresh once
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        result = subprocess.run(argv, check=False, env=env, capture_output=True, text=True)
    return "" if result.returncode == 0 else result.stderr.strip()[-300:]


def why_missing(anchor: str) -> str:
    """The reason a row gives when its anchor is not installed."""
    return f"{' '.join(PACKAGES[anchor][0])} not installed"
