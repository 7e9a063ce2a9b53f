"""The `Netlink` handle: one NETLINK_ROUTE socket bound to one network namespace.

Owns the round trips and nothing else: send a batch of requests in one `send` and collect one
ack per request (`_request`, `_submit`), fetch one object (`_get`), or run a dump (`_dump`).
Message contents are built by the operation modules (links, addresses, routes); those call the
underscored methods, which are private to this package. Every NLMSG_ERROR becomes a
`KernelError` carrying the kernel's errno (and its extack text when it sent one).
"""

from __future__ import annotations

import _socket  # the C module: `socket` adds 3 ms of imports (enums, selectors) we never use
import errno
import os

from dockline.errors import KernelError
from dockline.netlink import messages as m
from dockline.records import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

_CLONE_NEWNET = 0x40000000
_SO_RCVBUFFORCE = 33  # not in typeshed's _socket
_NETLINK_ROUTE = 0
_RCVBUF = 1 << 20
_RECV_SIZE = 1 << 16  # the kernel caps dump datagrams at 32 KiB
_BATCH = 128  # requests per send: their acks must fit the receive buffer or the kernel drops them
_DUMP_RETRIES = 5


class Request:
    """One message of a batch, with what to say if it fails and which errnos mean success.

    A plain class: a dataclass costs ~1 ms of import time here, for no gain.
    """

    __slots__ = ("msg", "ok_errnos", "op", "target")

    def __init__(
        self, msg: bytes, op: str, target: str, ok_errnos: frozenset[int] = frozenset()
    ) -> None:
        self.msg = msg
        self.op = op
        self.target = target
        self.ok_errnos = ok_errnos


def _kernel_error(op: str, target: str, err: int, extack: str = "") -> KernelError:
    return KernelError(op, f"{target} ({extack})" if extack else target, err)


class Netlink:
    """One NETLINK_ROUTE socket bound to one network namespace.

    Not thread-safe: requests and their acks interleave on the one socket, so give each thread
    its own handle.
    """

    __slots__ = ("_buf", "_seq", "_sock")

    def __init__(self, sock: _socket.socket) -> None:
        """Wrap a ready socket; use `Netlink.open`."""
        self._sock = sock
        self._seq = 0
        self._buf = bytearray(_RECV_SIZE)

    @classmethod
    def open(cls, netns_fd: int | None = None) -> Netlink:
        """A handle in the calling thread's netns, or in `netns_fd` (the thread is put back)."""
        if netns_fd is None:
            return cls(_route_socket())
        return cls(_route_socket_in(netns_fd))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, requests: Sequence[Request]) -> None:
        """Send a batch; raise the first failure once every ack is in (the socket stays in sync)."""
        for failure in self._submit(requests):
            if failure is not None:
                raise failure

    def _submit(self, requests: Sequence[Request]) -> list[KernelError | None]:
        """Send a batch (chunked) and return each request's failure or None, in order.

        The kernel runs every message of a batch even after one fails, so the chunks go on too.
        """
        results: list[KernelError | None] = []
        for start in range(0, len(requests), _BATCH):
            chunk = requests[start : start + _BATCH]
            first = self._send([r.msg for r in chunk], m.NLM_F_REQUEST, ack_last=True)
            for req, (err, extack) in zip(chunk, self._acks(first, len(chunk)), strict=True):
                failed = err != 0 and err not in req.ok_errnos
                results.append(_kernel_error(req.op, req.target, err, extack) if failed else None)
        return results

    def _request_echoed(self, request: Request) -> bytes | None:
        """Send one request with NLM_F_ECHO; raise its failure, or return the payload of the
        kernel's echo of what it made (None from a kernel that does not echo this request)."""
        seq = self._send([request.msg], m.NLM_F_REQUEST | m.NLM_F_ACK | m.NLM_F_ECHO)
        echo = None
        for msg_type, flags, msg_seq, payload in self._messages():
            if msg_seq != seq:
                continue
            if msg_type != m.NLMSG_ERROR:
                echo = bytes(payload)  # the echo comes before the ack
                continue
            err, extack = _parse_error(payload, flags)
            if err != 0 and err not in request.ok_errnos:
                raise _kernel_error(request.op, request.target, err, extack)
            return echo
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, msg: bytes, op: str, target: str) -> bytes:
        """The payload of the kernel's single reply to a GET request."""
        seq = self._send([msg], m.NLM_F_REQUEST)
        for msg_type, flags, msg_seq, payload in self._messages():
            if msg_seq != seq:
                continue
            if msg_type == m.NLMSG_ERROR:
                err, extack = _parse_error(payload, flags)
                raise _kernel_error(op, target, err or errno.EPROTO, extack)
            return bytes(payload)
        raise AssertionError("unreachable")  # pragma: no cover

    def _dump(self, msg: bytes, op: str, target: str) -> list[bytes]:
        """Every payload of a dump; restarted when the kernel flags it inconsistent (DUMP_INTR).

        Collected whole rather than yielded, so a caller that stops early cannot leave the rest
        of the dump queued on the socket.
        """
        for _attempt in range(_DUMP_RETRIES):
            payloads, interrupted = self._dump_once(msg, op, target)
            if not interrupted:
                return payloads
        raise _kernel_error(op, target, errno.EAGAIN, "dump kept changing under us")

    def _dump_once(self, msg: bytes, op: str, target: str) -> tuple[list[bytes], bool]:
        seq = self._send([msg], m.NLM_F_REQUEST | m.NLM_F_DUMP)
        payloads: list[bytes] = []
        interrupted = False
        for msg_type, flags, msg_seq, payload in self._messages():
            if msg_seq != seq:
                continue
            interrupted |= bool(flags & m.NLM_F_DUMP_INTR)
            if msg_type == m.NLMSG_DONE:
                err = -m.NLMSGERR.unpack_from(payload)[0] if len(payload) >= 4 else 0
                if err:
                    raise _kernel_error(op, target, err)
                return payloads, interrupted
            if msg_type == m.NLMSG_ERROR:
                raise _kernel_error(op, target, *_parse_error(payload, flags))
            payloads.append(bytes(payload))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, msgs: Sequence[bytes], flags: int, *, ack_last: bool = False) -> int:
        """Stamp consecutive seqs and `flags` on each message (and NLM_F_ACK on the last one if
        `ack_last`), send all at once; the first seq."""
        buf = bytearray(b"".join(msgs))
        first = self._seq + 1
        offset = 0
        for i, msg in enumerate(msgs):
            length, msg_type, msg_flags, _seq, _pid = m.NLMSGHDR.unpack_from(msg)
            seq = (first + i) & 0xFFFFFFFF
            if ack_last and i == len(msgs) - 1:
                msg_flags |= m.NLM_F_ACK
            m.NLMSGHDR.pack_into(buf, offset, length, msg_type, msg_flags | flags, seq, 0)
            offset += len(msg)
        self._seq = (self._seq + len(msgs)) & 0xFFFFFFFF
        self._sock.send(buf)  # PEP 475: EINTR is retried by Python itself
        return first & 0xFFFFFFFF

    def _acks(self, first: int, count: int) -> list[tuple[int, str]]:
        """(errno, extack) for seqs first..first+count-1 sent with `ack_last`.

        The kernel runs a batch in order, reports every failure whether asked or not, and acks
        the last message once it has run: a message with no report before that ack succeeded.
        One ack per batch instead of one per message (each a datagram to allocate and read).
        Stray messages are skipped.
        """
        acks = [(0, "")] * count
        for msg_type, flags, seq, payload in self._messages():
            index = (seq - first) & 0xFFFFFFFF
            if msg_type != m.NLMSG_ERROR or index >= count:
                continue
            acks[index] = _parse_error(payload, flags)
            if index == count - 1:
                break
        return acks

    def _messages(self) -> Iterator[tuple[int, int, int, memoryview]]:
        """(type, flags, seq, payload) of each message received, datagram after datagram.

        Payload views point into a buffer reused by the next recv: copy what you keep.
        ENOBUFS means the kernel dropped replies (receive buffer full); what was lost cannot be
        known, so it is raised rather than guessed around.
        """
        view = memoryview(self._buf)
        while True:
            try:
                size = self._sock.recv_into(self._buf)
            except OSError as err:
                raise _kernel_error("netlink receive", "rtnetlink socket", err.errno or 0) from err
            offset = 0
            while offset + m.NLMSGHDR.size <= size:
                length, msg_type, flags, seq, _pid = m.NLMSGHDR.unpack_from(self._buf, offset)
                if length < m.NLMSGHDR.size or offset + length > size:
                    raise _kernel_error("netlink receive", "truncated message", errno.EMSGSIZE)
                yield msg_type, flags, seq, view[offset + m.NLMSGHDR.size : offset + length]
                offset += (length + 3) & ~3


def _parse_error(payload: memoryview | bytes, flags: int) -> tuple[int, str]:
    """(errno, extack message) of an NLMSG_ERROR payload; errno 0 is a plain ack."""
    (error,) = m.NLMSGERR.unpack_from(payload)
    if not flags & m.NLM_F_ACK_TLVS:
        return -error, ""
    if flags & m.NLM_F_CAPPED:
        tlv_offset = m.NLMSGERR.size + m.NLMSGHDR.size
    else:
        tlv_offset = m.NLMSGERR.size + m.NLMSGHDR.unpack_from(payload, m.NLMSGERR.size)[0]
    attrs = m.parse_attrs(bytes(payload), tlv_offset)
    return -error, m.get_str(attrs, m.NLMSGERR_ATTR_MSG) or ""


def _route_socket() -> _socket.socket:
    flags = _socket.SOCK_RAW | _socket.SOCK_CLOEXEC
    sock = _socket.socket(_socket.AF_NETLINK, flags, _NETLINK_ROUTE)
    try:
        for option in (m.NETLINK_CAP_ACK, m.NETLINK_EXT_ACK, m.NETLINK_GET_STRICT_CHK):
            sock.setsockopt(m.SOL_NETLINK, option, 1)
        try:  # root: ignore rmem_max so a full batch of acks always fits
            sock.setsockopt(_socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
        except PermissionError:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, _RCVBUF)
    except BaseException:
        sock.close()
        raise
    return sock


def _route_socket_in(netns_fd: int) -> _socket.socket:
    """A socket created inside `netns_fd`; the thread returns to its own netns, even on error."""
    from dockline.linux import setns  # libc via ctypes, loaded once per process

    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            setns(netns_fd, _CLONE_NEWNET)
        except KernelError as err:
            raise KernelError("enter netns", f"fd {netns_fd}", err.errno) from None
        sock: _socket.socket | None = None
        try:
            sock = _route_socket()
        finally:
            try:
                setns(original, _CLONE_NEWNET)
            except KernelError as err:
                if sock is not None:
                    sock.close()
                # A thread stranded in a foreign netns would corrupt everything after it.
                back = "/proc/thread-self/ns/net"
                raise KernelError("return to netns", back, err.errno) from None
        return sock
    finally:
        os.close(original)
