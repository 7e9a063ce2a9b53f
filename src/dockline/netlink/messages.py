"""rtnetlink wire format: constants, precompiled structs, attribute encoding and parsing.

Pure byte work, no I/O: builds whole netlink messages (header + family struct + attributes) with
sequence number 0 (the socket layer stamps seq and the REQUEST/ACK flags when it sends a batch),
and parses attribute streams back into `{type: payload}`. Constants are checked against the
kernel's uapi headers (linux/rtnetlink.h, if_link.h, if_addr.h, veth.h, ip.h).
"""

from __future__ import annotations

import struct

# --- address families (linux/socket.h; here so that no module needs `socket`, 3 ms to import) ---
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10

# --- netlink core (linux/netlink.h) ---
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # errors carry only the request's header, not its whole body
NETLINK_EXT_ACK = 11  # errors carry the kernel's extack message
NETLINK_GET_STRICT_CHK = 12  # dumps honour the filters in the request header

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ECHO = 0x8
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # on an ack: only the request header follows the errno
NLM_F_ACK_TLVS = 0x200  # on an ack: extack attributes follow
NLMSGERR_ATTR_MSG = 1

NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

# --- rtnetlink message types (linux/rtnetlink.h) ---
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26

# --- links (linux/if_link.h, linux/veth.h, linux/ip.h) ---
IFF_UP = 0x1
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_AF_SPEC = 26
IFLA_GROUP = 27
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
IFLA_NUM_TX_QUEUES = 31
IFLA_NUM_RX_QUEUES = 32
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_BR_MCAST_SNOOPING = 23  # u8, in IFLA_INFO_DATA of a bridge
IFLA_INET_CONF = 1
IFLA_INET6_ADDR_GEN_MODE = 8  # in IFLA_AF_SPEC / AF_INET6
IN6_ADDR_GEN_MODE_NONE = 1  # no automatic (link-local) address
IPV4_DEVCONF_ARP_NOTIFY = 22
RTEXT_FILTER_SKIP_STATS = 1 << 3  # link replies without the ~1 KiB of counters

# --- addresses (linux/if_addr.h) ---
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
IFA_F_NODAD = 0x02

# --- routes (linux/rtnetlink.h) ---
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_TABLE = 15
RTN_UNICAST = 1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254

# --- structs ---
NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLMSGERR = struct.Struct("=i")  # negative errno (0: ack), then the request's nlmsghdr
NLATTR = struct.Struct("=HH")  # len, type
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
# family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTMSG = struct.Struct("=BBBBBBBBI")
U32 = struct.Struct("=I")
S32 = struct.Struct("=i")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def message(msg_type: int, flags: int, body: bytes) -> bytes:
    """A whole netlink message; seq and REQUEST/ACK are stamped by the socket layer."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, flags, 0, 0) + body


def attr(attr_type: int, payload: bytes) -> bytes:
    """One attribute, padded to the 4-byte boundary the kernel expects."""
    length = NLATTR.size + len(payload)
    return NLATTR.pack(length, attr_type) + payload + _PAD[length & 3]


def attr_u32(attr_type: int, value: int) -> bytes:
    return attr(attr_type, U32.pack(value))


def attr_str(attr_type: int, value: str) -> bytes:
    """A NUL-terminated string attribute (interface names, link kinds)."""
    return attr(attr_type, value.encode() + b"\0")


def nested(attr_type: int, *children: bytes) -> bytes:
    """A nested attribute, flagged NLA_F_NESTED as strict kernel policies require."""
    return attr(attr_type | NLA_F_NESTED, b"".join(children))


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """`{type: payload}` of the attribute stream in `data[offset:]` (flags masked off)."""
    attrs: dict[int, bytes] = {}
    end = len(data)
    while offset + NLATTR.size <= end:
        length, attr_type = NLATTR.unpack_from(data, offset)
        if length < NLATTR.size:
            break
        attrs[attr_type & NLA_TYPE_MASK] = data[offset + NLATTR.size : offset + length]
        offset += (length + 3) & ~3
    return attrs


def find_u32(data: bytes, offset: int, attr_type: int) -> int | None:
    """The u32 attribute `attr_type` of the stream in `data[offset:]`, found without parsing
    the rest (a link message has ~50 attributes and we may want one)."""
    end = len(data)
    while offset + NLATTR.size <= end:
        length, found = NLATTR.unpack_from(data, offset)
        if length < NLATTR.size:
            break
        if found & NLA_TYPE_MASK == attr_type and length >= NLATTR.size + U32.size:
            return int(U32.unpack_from(data, offset + NLATTR.size)[0])
        offset += (length + 3) & ~3
    return None


def get_u32(attrs: dict[int, bytes], attr_type: int) -> int | None:
    value = attrs.get(attr_type)
    return None if value is None else int(U32.unpack_from(value)[0])


def get_s32(attrs: dict[int, bytes], attr_type: int) -> int | None:
    value = attrs.get(attr_type)
    return None if value is None else int(S32.unpack_from(value)[0])


def get_str(attrs: dict[int, bytes], attr_type: int) -> str | None:
    value = attrs.get(attr_type)
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")
