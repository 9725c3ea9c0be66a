"""The sockets a process holds: /proc/PID/net/{tcp,tcp6,udp,udp6,unix}, matched by inode.

/proc/PID/net shows the network namespace of that process, so this works for a process in a
container seen from the host, where /proc/net (ours) would show the host's sockets only.
Formats: proc_net(5); TCP states: include/net/tcp_states.h; the Unix "listening" flag is
__SO_ACCEPTCON (1 << 16, include/linux/net.h).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

from iodetect.inspect import procfs
from iodetect.text import clean

TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
SO_ACCEPTCON = 1 << 16
TABLES = ("tcp", "tcp6", "udp", "udp6")
# A host with a million connections has 150 MB of /proc/net/tcp: stop there, and say so.
LINES_LIMIT = 400_000
BYTES_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Socket:
    inode: int
    proto: str  # tcp, tcp6, udp, udp6, unix
    state: str  # LISTEN, ESTABLISHED, ... (UDP: CLOSE unless connected; Unix: LISTEN/CONNECTED/...)
    local: str = ""  # 127.0.0.1:8000, [::1]:8000, a Unix path or @abstract
    remote: str = ""
    port: int | None = None  # the local port (TCP and UDP)

    @property
    def family(self) -> str:
        return {"tcp6": "tcp", "udp6": "udp"}.get(self.proto, self.proto)


@dataclass(frozen=True)
class Table:
    sockets: dict[int, Socket]
    truncated: bool = False


def _address(text: str) -> tuple[str, int]:
    host, _, port_hex = text.partition(":")
    port = int(port_hex, 16)
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word of the address in host byte order.
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1])), port
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    addr = ipaddress.IPv6Address(words)
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped), port
    return f"[{addr}]", port


def _lines(name: str) -> tuple[Iterable[str], bool]:
    data, cut = procfs.read_bytes(name, BYTES_LIMIT)
    lines = data.decode("ascii", "replace").splitlines()[1:]
    if len(lines) > LINES_LIMIT:
        return lines[:LINES_LIMIT], True
    return lines, cut


def read(pid: int, inodes: set[int], tables: tuple[str, ...] = (*TABLES, "unix")) -> Table:
    """The sockets among `inodes` that `pid`'s network namespace lists; unknown ones are absent.

    tables: which of tcp, tcp6, udp, udp6, unix to read (the kernel writes each on every read,
    about 100 ms for 40 000 TCP sockets, so --watch reads only the TCP ones).
    """
    found: dict[int, Socket] = {}
    truncated = False
    if not inodes:
        return Table(found)
    for proto in (t for t in TABLES if t in tables):
        try:
            lines, cut = _lines(procfs.path(pid, "net", proto))
        except OSError:
            continue  # no IPv6 in this kernel, or the process is gone: the caller notices
        truncated = truncated or cut
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            try:
                inode = int(fields[9])
                if inode not in inodes:
                    continue
                local, port = _address(fields[1])
                remote, rport = _address(fields[2])
                state = int(fields[3], 16)
            except ValueError:
                continue
            name = TCP_STATES.get(state, f"state {state}")
            shown_remote = f"{remote}:{rport}" if rport else ""
            found[inode] = Socket(inode, proto, name, f"{local}:{port}", shown_remote, port)
    try:
        lines, cut = _lines(procfs.path(pid, "net", "unix")) if "unix" in tables else ([], False)
    except OSError:
        lines, cut = [], False
    truncated = truncated or cut
    for line in lines:
        fields = line.split(None, 7)
        if len(fields) < 7:
            continue
        try:
            inode = int(fields[6])
            if inode not in inodes:
                continue
            flags = int(fields[3], 16)
            st = int(fields[5], 16)
        except ValueError:
            continue
        where = clean(fields[7].strip(), 120, controls="escape") if len(fields) > 7 else ""
        shown = (
            "LISTEN"
            if flags & SO_ACCEPTCON
            else {1: "UNCONNECTED", 3: "CONNECTED"}.get(st, f"state {st}")
        )
        found[inode] = Socket(inode, "unix", shown, where)
    return Table(found, truncated)


def listening_inodes(pid: int, port: int | None = None) -> dict[int, Socket]:
    """TCP sockets listening in `pid`'s network namespace (on `port`, when given), by inode."""
    found: dict[int, Socket] = {}
    for proto in ("tcp", "tcp6"):
        try:
            lines, _cut = _lines(procfs.path(pid, "net", proto))
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":
                continue
            try:
                local, lport = _address(fields[1])
                inode = int(fields[9])
            except ValueError:
                continue
            if port is None or lport == port:
                found[inode] = Socket(inode, proto, "LISTEN", f"{local}:{lport}", "", lport)
    return found


def socket_inode(target: str) -> int | None:
    """The inode of a descriptor link such as 'socket:[12345]'."""
    if target.startswith("socket:[") and target.endswith("]"):
        try:
            return int(target[8:-1])
        except ValueError:
            return None
    return None


def loopback(address: str) -> bool:
    """Whether a local address ('127.0.0.1:8000', '[::1]:80') is reachable only from this host."""
    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def own_net_namespace(pid: int) -> bool:
    """Whether `pid` shares iodetect's network namespace."""
    try:
        return os.readlink(procfs.path(pid, "ns", "net")) == os.readlink("/proc/self/ns/net")
    except OSError:
        return True
