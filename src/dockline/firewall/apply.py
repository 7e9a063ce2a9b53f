"""Apply rendered nftables scripts to the kernel, and switch on IPv4 forwarding.

Everything acts on the CURRENT network namespace (that of the calling process): `nft` is a child
that inherits it, and /proc/sys/net is resolved in the namespace of whoever opens it. A script
goes to `nft -f -` as one file, which nft sends as one netlink batch: it commits whole or not at
all, so a failed apply leaves the previous ruleset in place. We drive the `nft` binary rather than
speaking nf_tables netlink ourselves: its parser and its rule compiler are the stable interface.
It runs whatever script it is given: pass only scripts from `render`, which name only our table.
"""

from __future__ import annotations

import errno
import os

from dockline.errors import KernelError
from dockline.firewall.render import TABLE, render_delete

IP_FORWARD = "net.ipv4.ip_forward"
_NFT_CANDIDATES = ("/usr/sbin/nft", "/sbin/nft", "/usr/local/sbin/nft")
_NFT_TIMEOUT = 30.0  # seconds; a healthy apply takes milliseconds
_REASON_MAX = 300


def apply_ruleset(script: str) -> None:
    """Run `script` through `nft -f -` as one atomic transaction; KernelError says why it failed."""
    _run_nft("apply nftables ruleset", script)


def delete_ruleset() -> None:
    """Remove our table; succeeds when it is already absent (the add-then-delete idiom)."""
    _run_nft("delete nftables ruleset", render_delete())


def enable_forwarding() -> bool:
    """Set net.ipv4.ip_forward=1 in the current namespace; no write when it is already on.
    True if it was off (what an undo turns off again)."""
    from dockline.linux import read_sysctl, write_sysctl

    if read_sysctl(IP_FORWARD) == "1":
        return False
    write_sysctl(IP_FORWARD, "1")
    return True


def disable_forwarding() -> None:
    """Set net.ipv4.ip_forward=0 in the current namespace (the undo of `enable_forwarding`)."""
    from dockline.linux import write_sysctl

    write_sysctl(IP_FORWARD, "0")


def _run_nft(op: str, script: str) -> None:
    import subprocess

    argv = [_find_nft(op), "-f", "-"]
    try:
        proc = subprocess.run(
            argv, input=script, capture_output=True, text=True, timeout=_NFT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise KernelError(op, f"table {TABLE} (nft timed out)", errno.ETIMEDOUT) from err
    except OSError as err:
        raise KernelError(
            op, f"table {TABLE} (running nft: {err})", err.errno or errno.EIO
        ) from err
    if proc.returncode != 0:
        reason = _first_line(proc.stderr) or f"nft exited with status {proc.returncode}"
        # Only EPERM is worth telling apart (run as root); other nft failures keep EINVAL, never
        # ENOENT, which callers read as "already gone".
        code = errno.EPERM if "Operation not permitted" in reason else errno.EINVAL
        raise KernelError(op, f"table {TABLE} (nft: {reason})", code)


def _find_nft(op: str) -> str:
    """PATH first, then the usual sbin directories, which a non-login root PATH may lack."""
    import shutil

    found = shutil.which("nft")
    if found:
        return found
    for path in _NFT_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    raise KernelError(
        op, f"table {TABLE} (nft not found: install the nftables package)", errno.ENOENT
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:_REASON_MAX]
    return ""
