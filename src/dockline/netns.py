"""Network namespace handles: open, identify, enter, link, create and delete them.

Owns how a namespace is named on disk (/proc/PID/ns/net, a /run/netns symlink, or a persistent
bind mount) and how we tell that a handle still means the namespace it meant (dev/ino, plus the
owning process's start time against pid reuse). It does not configure anything inside a
namespace: links, addresses and routes belong to `netlink`, sysctls to the callers of `linux`.

`entered`, `create_netns` and the fd helpers act on the calling thread's namespace, never the
whole process's, so they are safe to use from one thread while others keep working.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from dockline import linux
from dockline.errors import Conflict, InvalidArgument, KernelError, NotFound
from dockline.model import NetnsRef
from dockline.rollback import Rollback

_NS_GET_NSTYPE = 0xB703  # ioctl on a namespace fd: which kind of namespace it is
_SELF_NETNS = "/proc/thread-self/ns/net"
_MAX_LINK_ATTEMPTS = 3
# Set on every link `link_netns` makes for a store (a trusted xattr: root's, and allowed on a
# symlink; its value names the store), so that store's gc can tell its links from a user's and
# from another store's. A kill -9 between a link and its commit leaves one that no record names
# while its process lives, and a user's link to a live namespace looks the same.
LINK_MARK = "trusted.dockline"


def current_netns_fd() -> int:
    """An fd for the calling thread's network namespace (close it when done)."""
    try:
        return os.open(_SELF_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise KernelError("open", _SELF_NETNS, err.errno or 0) from err


def open_netns(path: str) -> int:
    """An fd for the network namespace at `path` (a /proc link or a bind mount).

    NotFound if nothing is there; InvalidArgument if it is something else than a netns.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # nsfs files are regular; never open fifos or devices
            raise InvalidArgument("network namespace", path, "not a network namespace")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError) as err:
        raise NotFound("network namespace", path) from err
    except OSError as err:
        raise KernelError("open", path, err.errno or 0) from err
    try:
        _check_is_netns(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_is_netns(fd: int, path: str) -> None:
    try:
        nstype = fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except OSError as err:
        if err.errno in (errno.ENOTTY, errno.EINVAL):  # not an nsfs file at all
            raise InvalidArgument("network namespace", path, "not a network namespace") from err
        raise KernelError("identify namespace", path, err.errno or 0) from err
    if nstype != linux.CLONE_NEWNET:
        raise InvalidArgument("network namespace", path, "not a network namespace")


def ref_for_pid(pid: int) -> NetnsRef:
    """A handle on the network namespace of process `pid`, tied to that very process."""
    ref, fd = open_pid_netns(pid)
    os.close(fd)
    return ref


def open_pid_netns(pid: int) -> tuple[NetnsRef, int]:
    """`ref_for_pid` and an fd for that namespace (the caller closes it): the one opening that
    the handle is read from, so the fd is the namespace the handle names."""
    path = f"/proc/{pid}/ns/net"
    start = linux.proc_start_time(pid)
    try:
        fd = open_netns(path)
    except NotFound as err:
        raise NotFound("process", pid) from err
    return _ref_of_open(fd, path, pid, start, NotFound("process", pid)), fd


def ref_for_path(path: str) -> NetnsRef:
    """A handle on the network namespace at `path`, following symlinks.

    When `path` is, or links to, /proc/N/ns/net, the handle is tied to process N.
    """
    ref, fd = open_path_netns(path)
    os.close(fd)
    return ref


def open_path_netns(path: str) -> tuple[NetnsRef, int]:
    """`ref_for_path` and an fd for that namespace (the caller closes it), as `open_pid_netns`."""
    if not path:  # abspath would make it the working directory, and the error about that
        raise InvalidArgument("network namespace", "''", "give a path such as /run/netns/NAME")
    path = os.path.abspath(path)
    pid = _proc_pid_of(path)
    if path == "/proc/self/ns/net":
        path = f"/proc/{pid}/ns/net"  # "self" would mean whoever reads the ref later
    start = None if pid is None else linux.proc_start_time(pid)
    fd = open_netns(path)
    return _ref_of_open(fd, path, pid, start, NotFound("network namespace", path)), fd


def _ref_of_open(
    fd: int, path: str, pid: int | None, start: int | None, exited: NotFound
) -> NetnsRef:
    """The handle of the namespace open at `fd`; for a process's namespace, its start time is
    read before the open and again after it: if it changed (or the process was gone), the pid
    was recycled in between, and `exited` is raised (the fd closed)."""
    try:
        st = os.fstat(fd)
        if pid is not None and (start is None or linux.proc_start_time(pid) != start):
            raise exited
    except BaseException:
        os.close(fd)
        raise
    return NetnsRef(path=path, dev=st.st_dev, ino=st.st_ino, pid=pid, pid_start=start)


def _proc_pid_of(path: str) -> int | None:
    """N if `path` is /proc/N/ns/net or a chain of symlinks ending there, else None."""
    for _ in range(40):  # the kernel's own limit on symlink hops
        parts = os.path.normpath(path).split("/")
        if len(parts) == 5 and parts[:2] == ["", "proc"] and parts[3:] == ["ns", "net"]:
            if parts[2] == "self":
                return os.getpid()
            return int(parts[2]) if parts[2].isascii() and parts[2].isdigit() else None
        try:
            target = os.readlink(path)
        except OSError:
            return None  # not a symlink, or gone: not a /proc path
        path = os.path.join(os.path.dirname(path), target)
    return None


def _same_ns(path: str, ref: NetnsRef) -> bool:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
        return False
    except OSError as err:
        raise KernelError("stat", path, err.errno or 0) from err
    return (st.st_dev, st.st_ino) == (ref.dev, ref.ino)


def is_alive(ref: NetnsRef) -> bool:
    """Whether `ref` still names the namespace it named when it was made.

    A pid ref needs the same process (pid and start time) still in the same namespace; a path
    ref needs the path to still lead to the same namespace.
    """
    if ref.pid is None:
        return _same_ns(ref.path, ref)
    start = linux.proc_start_time(ref.pid)
    if start is None or (ref.pid_start is not None and start != ref.pid_start):
        return False
    alive = _same_ns(f"/proc/{ref.pid}/ns/net", ref)
    return alive and linux.proc_start_time(ref.pid) == start


def initial_netns_ids() -> frozenset[tuple[int, int]]:
    """(dev, ino) of the machine's initial network namespace, as far as we can see it: init's
    (pid 1) and the kernel threads' (kthreadd, pid 2 when we share the machine's pid namespace).

    Kernel threads always live in the initial namespace, and their namespaces stay readable
    where init's may not be: in a sandbox whose pid 1 we may not trace, stat() of
    /proc/1/ns/net fails with EACCES, and a guard on init's namespace alone then guards nothing.
    Empty when both are hidden (inside a pid namespace with hidepid, say).
    """
    found = set()
    for pid in (1, 2):
        if pid == 2 and not _is_kernel_thread(pid):
            continue  # a pid namespace of our own: pid 2 is an ordinary process there
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return frozenset(found)


_PF_KTHREAD = 0x00200000  # in a task's flags (field 9 of /proc/PID/stat): a kernel thread


def _is_kernel_thread(pid: int) -> bool:
    try:
        fields = linux.proc_stat_fields(pid)
    except KernelError:
        return False
    return fields is not None and bool(int(fields[6]) & _PF_KTHREAD)  # flags, field 9


class entered:  # noqa: N801 - used as a function: `with entered(fd):`
    """Run the body with the calling thread in the network namespace at `fd`.

    Always returns the thread to its original namespace, even when the body raises. Keep the
    body on this thread (no awaits that resume elsewhere); threads and processes it starts
    inherit the namespace. (A class, not @contextmanager: `contextlib` costs ~0.6 ms of every
    CLI start.)
    """

    __slots__ = ("_fd", "_original")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._original = -1

    def __enter__(self) -> None:
        self._original = current_netns_fd()
        try:
            linux.setns(self._fd, linux.CLONE_NEWNET)
        except BaseException:
            os.close(self._original)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            linux.setns(self._original, linux.CLONE_NEWNET)
        finally:
            os.close(self._original)


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise InvalidArgument("netns name", repr(name), "must be a plain file name")


def link_netns(
    netns_dir: str,
    name: str,
    pid: int,
    *,
    undo: Rollback | None = None,
    owner: str | None = None,
) -> bool:
    """Link `netns_dir/name` to /proc/PID/ns/net so `ip netns` sees the namespace by name.

    Idempotent for the same namespace; a dangling or stale link in the way is replaced
    atomically; anything else in the way is a Conflict. True if the link is new (made here, or
    in place of a dead one), and then its removal is pushed on `undo` and it is marked as
    `owner`'s (see `marked_links`); False if one to this namespace was there already: someone
    else's (say, made by hand as the source document does), left alone on undo.
    """
    _check_name(name)
    _ensure_netns_dir(netns_dir)
    ref = ref_for_pid(pid)
    link = os.path.join(netns_dir, name)
    made = _make_link(link, ref, None if owner is None else owner.encode())
    if made and undo is not None:
        undo.push(unlink_netns, link)
    return made


def _make_link(link: str, ref: NetnsRef, mark: bytes | None) -> bool:
    """`link_netns` at `link`, its undo aside; a new link gets `mark`."""
    for _ in range(_MAX_LINK_ATTEMPTS):  # retry only when another writer raced us
        try:
            existing = os.lstat(link)
        except FileNotFoundError:
            try:
                os.symlink(ref.path, link)
                _mark(link, mark)
            except FileExistsError:
                continue
            except OSError as err:
                raise KernelError("create symlink", link, err.errno or 0) from err
            return True
        except OSError as err:
            raise KernelError("stat", link, err.errno or 0) from err
        if not stat.S_ISLNK(existing.st_mode):
            raise Conflict(f"{link} exists and is not a symlink")
        return _reuse_link(link, ref, mark)
    raise Conflict(f"{link} keeps changing under us")


def _reuse_link(link: str, ref: NetnsRef, mark: bytes | None) -> bool:
    """Keep a link to `ref`'s namespace (False), replace a dead one (True, with `mark`),
    refuse one to another namespace."""
    if _same_ns(link, ref):
        if os.readlink(link) != ref.path:  # same namespace through another process: repoint
            _replace_symlink(ref.path, link, mark=_mark_of(link))  # whose it was
        return False
    if _links_to_netns(link):
        raise Conflict(f"{link} already names another live network namespace")
    _replace_symlink(ref.path, link, mark=mark)
    return True


def _links_to_netns(link: str) -> bool:
    try:
        os.close(open_netns(link))
    except (NotFound, InvalidArgument):
        return False
    return True


def _replace_symlink(target: str, link: str, *, mark: bytes | None) -> None:
    """Point `link` at `target` in one step, with `mark` (none if None)."""
    tmp = os.path.join(os.path.dirname(link), f".{os.path.basename(link)}.{os.urandom(4).hex()}")
    try:
        os.symlink(target, tmp)
        _mark(tmp, mark)
        os.replace(tmp, link)
    except OSError as err:
        unlink_netns(tmp)
        raise KernelError("replace symlink", link, err.errno or 0) from err


def _ensure_netns_dir(netns_dir: str) -> None:
    try:
        os.mkdir(netns_dir, 0o755)
        os.chmod(netns_dir, 0o755)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not os.path.isdir(netns_dir):
            raise Conflict(f"{netns_dir} exists and is not a directory") from None
    except OSError as err:
        raise KernelError("create directory", netns_dir, err.errno or 0) from err


def _mark(link: str, mark: bytes | None) -> None:
    """Mark `link` (unless `mark` is None), if the filesystem lets us: without trusted xattrs
    (or with any other refusal) it stays unmarked, and gc removes it only once it dangles. The
    mark only helps gc; a link is never refused for want of it."""
    if mark is None:
        return
    try:  # noqa: SIM105 - contextlib costs start-up time (a connect makes a link)
        os.setxattr(link, LINK_MARK, mark, follow_symlinks=False)
    except OSError:
        pass


def _mark_of(link: str) -> bytes | None:
    try:
        return os.getxattr(link, LINK_MARK, follow_symlinks=False)
    except OSError:  # ENODATA: unmarked; ENOTSUP: none can be; ENOENT: gone meanwhile
        return None


def marked_links(netns_dir: str, owner: str) -> list[str]:
    """Paths of the links in `netns_dir` that `link_netns` made for `owner` (sorted)."""
    mark = owner.encode()
    return [link for link in _symlinks(netns_dir) if _mark_of(link) == mark]


def unlink_netns(path: str, *, missing_ok: bool = True) -> None:
    """Remove a namespace symlink made by `link_netns` (never a regular file or mount)."""
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            raise InvalidArgument("netns link", path, "not a symlink")
        os.unlink(path)
    except FileNotFoundError as err:
        if not missing_ok:
            raise NotFound("netns link", path) from err
    except OSError as err:
        raise KernelError("remove symlink", path, err.errno or 0) from err


def create_netns(path: str) -> NetnsRef:
    """Create a new network namespace that persists as a bind mount at `path`, like `ip netns add`.

    The calling thread briefly enters the new namespace and is always returned to its own. The
    namespace starts with `lo` down; bringing it up is the caller's job.
    """
    _ensure_netns_dir(os.path.dirname(os.path.abspath(path)))
    with Rollback() as undo:
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
        except FileExistsError as err:
            raise Conflict(f"network namespace {path} already exists") from err
        except OSError as err:
            raise KernelError("create", path, err.errno or 0) from err
        undo.push(os.unlink, path)
        _bind_new_netns(path, undo)
        ref = ref_for_path(path)
        undo.commit()
    return ref


def _bind_new_netns(path: str, undo: Rollback) -> None:
    original = current_netns_fd()
    try:
        linux.unshare(linux.CLONE_NEWNET)
        try:
            linux.mount(_SELF_NETNS, path, None, linux.MS_BIND)
            undo.push(linux.umount2, path, linux.MNT_DETACH | linux.UMOUNT_NOFOLLOW)
        finally:
            linux.setns(original, linux.CLONE_NEWNET)  # the mount now keeps the new netns alive
    finally:
        os.close(original)


def delete_netns(path: str, *, missing_ok: bool = True) -> None:
    """Unmount and remove a namespace made by `create_netns` (or `ip netns add`)."""
    try:
        linux.umount2(path, linux.MNT_DETACH | linux.UMOUNT_NOFOLLOW)
    except KernelError as err:
        if err.errno == errno.ENOENT:
            if missing_ok:
                return
            raise NotFound("network namespace", path) from err
        if err.errno != errno.EINVAL:  # EINVAL: not mounted (a leftover file); remove it anyway
            raise
    try:
        os.unlink(path)
    except FileNotFoundError as err:
        if not missing_ok:
            raise NotFound("network namespace", path) from err
    except OSError as err:
        raise KernelError("remove", path, err.errno or 0) from err


def dangling_links(netns_dir: str) -> list[str]:
    """Paths of the symlinks in `netns_dir` whose target no longer exists (sorted)."""
    return [link for link in _symlinks(netns_dir) if not os.path.exists(link)]


def _symlinks(netns_dir: str) -> list[str]:
    """Paths of the symlinks in `netns_dir` (sorted; none if it does not exist)."""
    try:
        with os.scandir(netns_dir) as entries:
            return sorted(e.path for e in entries if e.is_symlink())
    except FileNotFoundError:
        return []
    except OSError as err:
        raise KernelError("list", netns_dir, err.errno or 0) from err
