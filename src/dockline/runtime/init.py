"""The container's first process, between fork and exec.

It runs in the child of the supervisor, which has already made it pid 1 of a new pid namespace.
It enters the rest of its namespaces, tells the supervisor it is ready (so the network can be
configured from outside), and waits: CMD is exec'd only after the supervisor says "go", so it
never sees a half-configured network. Then its own mounts (/proc, /sys, the rootfs), hostname,
and Docker's default capability set (no CAP_NET_ADMIN, no CAP_SYS_ADMIN) unless privileged.

Anything that fails here is written to the error pipe as `errno:message` and the child exits; the
supervisor turns it into Docker's 125/126/127. Nothing here may return into the caller's code.
"""

from __future__ import annotations

import contextlib
import errno
import os

from dockline import linux
from dockline.errors import ExitStatus
from dockline.records import TYPE_CHECKING, Record
from dockline.runtime.spec import DEFAULT_PATH, ContainerSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import NoReturn

READY = b"R"
GO = b"G"


class ChildPipes(Record):
    """The child's ends of the three pipes that synchronise it with the supervisor."""

    ready_w: int  # child -> supervisor: namespaces exist
    go_r: int  # supervisor -> child: network configured, exec now
    err_w: int  # child -> supervisor: why exec did not happen (close-on-exec: EOF = success)


def child_main(spec: ContainerSpec, pipes: ChildPipes, join_netns_fd: int | None) -> NoReturn:
    """Become the container: never returns."""
    stage = "setup"
    try:
        enter_namespaces(spec, join_netns_fd)
        os.write(pipes.ready_w, READY)
        os.close(pipes.ready_w)
        if os.read(pipes.go_r, 1) != GO:
            os._exit(ExitStatus.DOCKLINE)
        setup_mounts(spec)
        linux.sethostname(spec.hostname)
        if not spec.privileged:
            linux.drop_capabilities(linux.DEFAULT_CAPABILITIES)
        close_other_fds(keep=pipes.err_w)
        stage = "exec"
        exec_command(spec.command, spec.environment())
    except BaseException as err:
        report_failure(pipes.err_w, stage, err)
    os._exit(ExitStatus.DOCKLINE)


def enter_namespaces(spec: ContainerSpec, join_netns_fd: int | None) -> None:
    # Its own UTS namespace in every mode, host included (as Docker's, unless --uts=host): the
    # host's name by default there, but `-h` sets its own and never the host's.
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
    if spec.net_mode.kind in ("bridge", "none"):
        flags |= linux.CLONE_NEWNET
    linux.unshare(flags)
    if join_netns_fd is not None:
        linux.setns(join_netns_fd, linux.CLONE_NEWNET)
        os.close(join_netns_fd)


def setup_mounts(spec: ContainerSpec) -> None:
    """Private mounts; a /proc of our own pid namespace; the rootfs as / if one was given."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = spec.rootfs or "/"
    if spec.rootfs:
        linux.mount(root, root, None, linux.MS_BIND | linux.MS_REC)
        mount_dev(root)
    mount_kernel_fs(root, own_netns=spec.net_mode.kind != "host")
    if spec.rootfs:
        os.chdir(root)
        linux.pivot_root(".", ".")
        linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")


def mount_kernel_fs(root: str, *, own_netns: bool) -> None:
    nosuid = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    proc = os.path.join(root, "proc")
    os.makedirs(proc, exist_ok=True)
    linux.mount("proc", proc, "proc", nosuid)
    sys_dir = os.path.join(root, "sys")
    if own_netns and os.path.isdir(sys_dir):
        # sysfs shows the network devices of the mounter's netns: the container's own.
        linux.mount("sysfs", sys_dir, "sysfs", nosuid | linux.MS_RDONLY)


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def mount_dev(root: str) -> None:
    """A small /dev of bind-mounted device nodes, as in Docker's default."""
    dev = os.path.join(root, "dev")
    os.makedirs(dev, exist_ok=True)
    linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID, "mode=755,size=65536k")
    for name in DEVICES:
        target = os.path.join(dev, name)
        with open(target, "w"):
            pass
        linux.mount(f"/dev/{name}", target, None, linux.MS_BIND)


def exec_command(command: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """`os.execvpe` without its imports: a command without a slash is looked up in the PATH of
    `env`, as execvp(3) does (a directory that is missing or not searchable is skipped).

    os.execvpe imports `warnings` to read PATH, and here the host's Python library may be gone
    (after the pivot into a `--rootfs`, or in `exec` inside the container's mount namespace).
    Raises as execvp(3) fails: the first error other than "not there", else ENOENT, with
    Docker's wording.
    """
    name = command[0]
    if "/" in name:
        os.execve(name, list(command), env)
    first_error: OSError | None = None
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        try:
            os.execve(os.path.join(directory or ".", name), list(command), env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            first_error = first_error or err
    if first_error is not None:
        raise first_error
    raise FileNotFoundError(errno.ENOENT, f'exec: "{name}": executable file not found in $PATH')


def close_other_fds(*, keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)


def report_failure(err_w: int, stage: str, err: BaseException) -> None:
    """Tell the supervisor `stage:errno:message` (stage is "setup" or "exec")."""
    code = getattr(err, "errno", None) or errno.EINVAL
    message = f"{stage}:{code}:{describe_failure(err)}".encode(errors="replace")
    with contextlib.suppress(OSError):
        os.write(err_w, message[:4000])


def describe_failure(err: BaseException) -> str:
    """An OSError as "what: path" (not Python's "[Errno N] ..."), anything else as itself."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror if err.filename is None else f"{err.strerror}: {err.filename}"
    return str(err)


def exit_status_for_exec_errno(code: int) -> int:
    """Docker: 127 when the command is not found, 126 when it cannot be executed."""
    if code == errno.ENOENT:
        return ExitStatus.NOT_FOUND
    if code in (errno.EACCES, errno.ENOEXEC, errno.EISDIR, errno.EPERM):
        return ExitStatus.CANNOT_INVOKE
    return ExitStatus.DOCKLINE
