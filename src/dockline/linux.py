"""Thin, typed wrappers over the Linux syscalls Python 3.11 lacks, plus /proc readers.

Owns: namespaces (unshare, setns), mounts (mount, umount2, pivot_root), hostname, capabilities,
prctl knobs, process start times and sysctl files. Each call goes to libc through ctypes, loaded
lazily on first use so importing this module costs nothing on the CLI's hot path. Every kernel
failure raises `KernelError` with the errno; bad arguments raise `InvalidArgument`. This module
knows nothing of containers or networks: callers decide what to call, in which order, and how to
undo it.

Namespace and capability calls act on the *calling thread* only; call them from a thread that
owns its fate (a forked child about to exec, or one thread that restores what it changed).
"""

# ctypes costs ~5 ms to import: it is imported inside the functions that need it, on purpose,
# and the calls with only int arguments (setns, unshare) use its C module alone (`_int_function`).

from __future__ import annotations

import errno
import os

from dockline.errors import InvalidArgument, KernelError
from dockline.lean import MappingProxyType, cache
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes
    from collections.abc import Callable, Mapping

# Namespace types (<linux/sched.h>).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# Mount flags (<linux/mount.h>) and umount2 flags.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# prctl options (<linux/prctl.h>).
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# glibc has no pivot_root wrapper; the syscall number differs per architecture.
_SYS_PIVOT_ROOT: Mapping[str, int] = MappingProxyType(
    {
        "x86_64": 155,
        "aarch64": 41,
        "riscv64": 41,
        "i686": 217,
        "armv7l": 218,
        "ppc64le": 203,
        "s390x": 217,
    }
)

_CAP_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip

CAPABILITIES: Mapping[str, int] = MappingProxyType(
    {f"CAP_{name}": number for number, name in enumerate(_CAP_NAMES)}
)

DEFAULT_CAPABILITIES: frozenset[int] = frozenset(
    CAPABILITIES[f"CAP_{name}"]
    for name in (
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
        "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    )
)  # fmt: skip


@cache
def _libc() -> ctypes.CDLL:
    """libc, loaded once on first use (ctypes is imported here, not at module import)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _call(op: str, target: str, func: str, *args: object) -> int:
    """Call libc `func`; raise KernelError(op, target, errno) when it returns -1."""
    ret: int = getattr(_libc(), func)(*args)
    return _checked(op, target, ret)


def _checked(op: str, target: str, ret: int) -> int:
    """`ret`, unless it is -1: then KernelError with the errno that ctypes kept for the call
    (both ways of calling libc here keep it: `use_errno` / FUNCFLAG_USE_ERRNO)."""
    if ret == -1:
        import _ctypes  # ctypes.get_errno is this very function

        raise KernelError(op, target, _ctypes.get_errno())
    return ret


@cache
def _int_function(name: str) -> Callable[..., int]:
    """libc `name`, for arguments that are all C ints, through `_ctypes` (the C module) alone.

    The `ctypes` package on top of it costs ~1-1.5 ms of imports here (`_endian`, `struct`, its
    many type classes), and every `network connect` paid that for one setns. A call whose
    arguments are all ints needs none of it: Python ints convert to C int by default, so the
    function only needs an int return type and errno kept (what `ctypes.CDLL(None,
    use_errno=True)` gives).
    """
    import _ctypes

    class Int(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_int (not generic at run time)
        _type_ = "i"

    class IntFunction(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = Int

    class Libc:  # all CFuncPtr((name, library)) reads of a library: its dlopen handle
        _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # NULL: the process's symbols

    # typeshed knows only CDLL here; C reads nothing but `_handle`
    function: Callable[..., int] = IntFunction((name, Libc))  # type: ignore[arg-type]
    return function


def _call_int(op: str, target: str, func: str, *args: int) -> int:
    """`_call` for a libc function whose arguments are all C ints (see `_int_function`)."""
    return _checked(op, target, _int_function(func)(*args))


def _cstr(value: str | None) -> ctypes.c_char_p:
    import ctypes

    return ctypes.c_char_p(None if value is None else os.fsencode(value))


def _prctl(op: str, option: int, arg2: int = 0) -> None:
    # prctl is variadic: pass every argument as unsigned long so no register holds garbage
    # (PR_CAP_AMBIENT, for one, insists that the unused arguments are zero).
    import ctypes

    zero = ctypes.c_ulong(0)
    _call(op, "self", "prctl", ctypes.c_int(option), ctypes.c_ulong(arg2), zero, zero, zero)


def unshare(flags: int) -> None:
    """Move the calling thread into new namespaces of the kinds in `flags`."""
    _call_int("unshare", hex(flags), "unshare", flags)


def setns(fd: int, nstype: int = 0) -> None:
    """Move the calling thread into the namespace open at `fd` (nstype 0: any kind)."""
    _call_int("setns", f"fd {fd}", "setns", fd, nstype)


def fork_in_pid_namespace(pid_ns_fd: int | None = None) -> int:
    """`os.fork`, the child born in the pid namespace open at `pid_ns_fd`, or in a new one
    (None: the child is its pid 1); returns as `os.fork` does.

    Entering a pid namespace changes only where the caller's *next* children are born, and for
    good: a process that stays there cannot fork once that namespace's pid 1 is gone (ENOMEM),
    and the forks of a long-lived caller (a Python program using the API, a supervisor running
    `nft`) would land in a container's pid namespace. So the parent goes back to its own pid
    namespace (its active one, which setns allows) right after the fork.
    """
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if pid_ns_fd is None:
            unshare(CLONE_NEWPID)
        else:
            setns(pid_ns_fd, CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            setns(own, CLONE_NEWPID)
            raise
        if pid != 0:
            setns(own, CLONE_NEWPID)
        return pid
    finally:
        os.close(own)


def mount(
    source: str | None,
    target: str,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """mount(2); `source`/`fstype` may be None for bind, remount and propagation changes."""
    import ctypes

    args = (_cstr(source), _cstr(target), _cstr(fstype), ctypes.c_ulong(flags), _cstr(data))
    _call("mount", target, "mount", *args)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2), e.g. with MNT_DETACH to unmount lazily while the mount is still busy."""
    import ctypes

    _call("unmount", target, "umount2", _cstr(target), ctypes.c_int(flags))


def pivot_root(new_root: str, put_old: str) -> None:
    """Make `new_root` the root of the calling mount namespace, moving the old root to `put_old`."""
    import ctypes

    machine = os.uname().machine
    number = _SYS_PIVOT_ROOT.get(machine)
    if number is None:
        raise KernelError("pivot_root", f"{new_root} on {machine}", errno.ENOSYS)
    args = (ctypes.c_long(number), _cstr(new_root), _cstr(put_old))
    _call("pivot_root", f"{new_root} (old root at {put_old})", "syscall", *args)


def sethostname(name: str) -> None:
    """Set the hostname of the calling thread's UTS namespace."""
    import ctypes

    raw = name.encode()
    _call(
        "set hostname", repr(name), "sethostname", ctypes.c_char_p(raw), ctypes.c_size_t(len(raw))
    )


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    path = "/proc/sys/kernel/cap_last_cap"
    try:
        with open(path, "rb") as f:
            return int(f.read())
    except OSError as err:
        raise KernelError("read", path, err.errno or 0) from err


def drop_capabilities(keep: frozenset[int]) -> None:
    """Leave the calling thread with only the capabilities in `keep`, across execve too.

    For a root process about to exec a container command: shrinks the bounding set (so exec
    cannot regain anything), clears ambient caps, sets effective and permitted to `keep` and
    empties inheritable. Needs CAP_SETPCAP, and `keep` must be within the current permitted set.
    """
    last = last_capability()
    bad = sorted(cap for cap in keep if not 0 <= cap <= min(last, 63))
    if bad:
        raise InvalidArgument("capability", bad[0], f"not between 0 and {min(last, 63)}")
    for cap in range(last + 1):
        if cap not in keep:
            _prctl(f"drop capability {cap} from bounding set", _PR_CAPBSET_DROP, cap)
    _prctl("clear ambient capabilities", _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    _capset(sum(1 << cap for cap in keep))


def _capset(mask: int) -> None:
    import ctypes

    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)  # version, pid 0 = self
    low, high = mask & 0xFFFFFFFF, mask >> 32
    # Two {effective, permitted, inheritable} structs: capabilities 0-31, then 32-63. The
    # inheritable set stays empty, as Docker's since CVE-2022-24769: root gets its capabilities
    # back from the bounding set across exec anyway, and a non-root program given file
    # capabilities must not gain more through an inheritable set.
    data = (ctypes.c_uint32 * 6)(low, low, 0, high, high, 0)
    _call("set capabilities", f"{mask:#x}", "capset", header, data)


def proc_start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), or None if no such live process.

    With the pid, this names one process for good: a recycled pid has a different start time.
    A zombie counts as gone: it has exited and only waits to be reaped (by init, if orphaned).
    """
    fields = proc_stat_fields(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])  # starttime, field 22


def proc_stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 (state) on, or None if there is no such process.

    comm (field 2) may hold spaces and ')': everything after the last ')' is plain fields, so
    field N is [N - 3] here.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as err:
        raise KernelError("read", f"/proc/{pid}/stat", err.errno or 0) from err
    return stat.rpartition(b")")[2].split()


def _sysctl_path(key: str) -> str:
    # Dotted keys cannot name interfaces with dots (eth0.1); the slash form can, as with sysctl(8).
    parts = key.split("/") if "/" in key else key.split(".")
    if not all(parts) or any(part in (".", "..") for part in parts):
        raise InvalidArgument("sysctl key", repr(key), "empty or relative path component")
    return "/proc/sys/" + "/".join(parts)


def write_sysctl(key: str, value: str) -> None:
    """Write a sysctl ("net.ipv4.ip_forward" or "net/ipv4/ip_forward").

    /proc/sys/net belongs to the network namespace of the thread that opens the file, so enter
    the target namespace first.
    """
    path = _sysctl_path(key)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise KernelError("write sysctl", f"{key}={value}", err.errno or 0) from err


def read_sysctl(key: str) -> str:
    """Read a sysctl's value, without the trailing newline."""
    path = _sysctl_path(key)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\n")
    except OSError as err:
        raise KernelError("read sysctl", key, err.errno or 0) from err
