"""System call numbers per architecture, and what a thread waiting in one of them is doing.

/proc/PID/task/TID/syscall gives the number of the system call a blocked thread is in, then its
argument registers (proc_pid_syscall(5)); "running" when it is on a CPU, "-1 ..." when it is
blocked outside a system call. Numbers differ by architecture, so they come from the kernel's
own tables, and the architecture from the process's executable (ELF e_machine), not from ours:

- x86_64: arch/x86/entry/syscalls/syscall_64.tbl (the "common" and "64" ABIs).
- aarch64: include/uapi/asm-generic/unistd.h, which arm64 uses for its native table. It has no
  poll, select nor epoll_wait: the C library implements them with ppoll, pselect6 and
  epoll_pwait, which is why an asyncio loop on aarch64 waits in those.
- ELF e_machine values: include/uapi/linux/elf-em.h (EM_X86_64 62, EM_AARCH64 183).

Architectures not listed here fall back to /proc/PID/task/TID/wchan (the kernel function a
thread sleeps in), which tells epoll from poll/select but not poll from select.
"""

from __future__ import annotations

from dataclasses import dataclass

# Only the calls a server thread is found waiting in; the others show as "syscall N".
X86_64: dict[int, str] = {
    0: "read",
    1: "write",
    7: "poll",
    17: "pread64",
    19: "readv",
    20: "writev",
    23: "select",
    34: "pause",
    35: "nanosleep",
    42: "connect",
    43: "accept",
    44: "sendto",
    45: "recvfrom",
    46: "sendmsg",
    47: "recvmsg",
    61: "wait4",
    128: "rt_sigtimedwait",
    130: "rt_sigsuspend",
    202: "futex",
    230: "clock_nanosleep",
    232: "epoll_wait",
    247: "waitid",
    270: "pselect6",
    271: "ppoll",
    281: "epoll_pwait",
    288: "accept4",
    299: "recvmmsg",
    426: "io_uring_enter",
    441: "epoll_pwait2",
}
AARCH64: dict[int, str] = {
    22: "epoll_pwait",
    63: "read",
    64: "write",
    65: "readv",
    66: "writev",
    67: "pread64",
    72: "pselect6",
    73: "ppoll",
    95: "waitid",
    98: "futex",
    101: "nanosleep",
    115: "clock_nanosleep",
    133: "rt_sigsuspend",
    137: "rt_sigtimedwait",
    202: "accept",
    203: "connect",
    206: "sendto",
    207: "recvfrom",
    211: "sendmsg",
    212: "recvmsg",
    242: "accept4",
    243: "recvmmsg",
    260: "wait4",
    426: "io_uring_enter",
    441: "epoll_pwait2",
}
TABLES = {"x86_64": X86_64, "aarch64": AARCH64}
SOURCES = {
    "x86_64": "linux arch/x86/entry/syscalls/syscall_64.tbl",
    "aarch64": "linux include/uapi/asm-generic/unistd.h",
}
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}  # include/uapi/linux/elf-em.h

# What a thread waiting in each call is doing. The event-wait calls are the loop mechanisms.
KINDS = {
    "epoll_wait": "epoll",
    "epoll_pwait": "epoll",
    "epoll_pwait2": "epoll",
    "poll": "poll",
    "ppoll": "poll",
    "select": "select",
    "pselect6": "select",
    "io_uring_enter": "io_uring",
    "accept": "accept",
    "accept4": "accept",
    "recvfrom": "recv",
    "recvmsg": "recv",
    "recvmmsg": "recv",
    "read": "read",
    "readv": "read",
    "pread64": "read",
    "write": "write",
    "writev": "write",
    "sendto": "send",
    "sendmsg": "send",
    "connect": "connect",
    "futex": "lock",
    "nanosleep": "sleep",
    "clock_nanosleep": "sleep",
    "pause": "signal",
    "rt_sigsuspend": "signal",
    "rt_sigtimedwait": "signal",
    "wait4": "child",
    "waitid": "child",
}
EVENT_KINDS = ("epoll", "poll", "select", "io_uring", "poll/select")
# The argument register that names what the thread waits on (proc_pid_syscall(5) lists them in
# order): a descriptor for most calls, the descriptor count for poll and select.
FD_ARG = {
    "epoll": 0,  # epfd
    "io_uring": 0,  # the ring's descriptor
    "accept": 0,
    "recv": 0,
    "read": 0,
    "write": 0,
    "send": 0,
    "connect": 0,
}
COUNT_ARG = {"poll": 1, "select": 0}  # poll(fds, nfds, ...); select(nfds, ...): highest fd + 1

# Kernel functions a thread sleeps in (wchan), for architectures without a table here.
WCHAN_KINDS = (
    ("epoll", "epoll"),
    ("io_uring", "io_uring"),
    ("poll_schedule_timeout", "poll/select"),
    ("do_sys_poll", "poll"),
    ("do_select", "select"),
    ("inet_csk_accept", "accept"),
    ("unix_stream_read", "recv"),
    ("sk_wait_data", "recv"),
    ("wait_woken", "recv"),
    ("pipe_read", "read"),
    ("futex", "lock"),
    ("hrtimer_nanosleep", "sleep"),
    ("do_nanosleep", "sleep"),
    ("do_wait", "child"),
)


@dataclass(frozen=True)
class Call:
    """What one sample of a thread shows: the call it waits in, and what it waits on."""

    state: str  # "syscall", "running", "blocked" (outside a system call), "unknown"
    name: str | None = None  # the call's name, "syscall N" when not in the table
    kind: str | None = None  # epoll, poll, select, io_uring, accept, recv, read, lock, ...
    fd: int | None = None  # the descriptor it waits on, where the call takes one
    count: int | None = None  # poll: descriptors polled; select: highest descriptor + 1


def elf_machine(header: bytes) -> str | None:
    """The architecture an executable is built for, from its ELF header; None when unknown."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return ELF_MACHINES.get(machine)


def parse(line: str, arch: str | None) -> Call:
    """One line of /proc/PID/task/TID/syscall."""
    line = line.strip()
    if not line:
        return Call("unknown")
    if line == "running":
        return Call("running")
    fields = line.split()
    try:
        number = int(fields[0])
    except ValueError:
        return Call("unknown")
    if number < 0:
        return Call("blocked")
    table = TABLES.get(arch or "")
    if table is None:
        return Call("syscall", f"syscall {number}")
    name = table.get(number)
    if name is None:
        return Call("syscall", f"syscall {number}")
    kind = KINDS.get(name)
    args = []
    for value in fields[1:7]:
        try:
            args.append(int(value, 16))
        except ValueError:
            args.append(-1)
    fd = count = None
    if kind in FD_ARG and len(args) > FD_ARG[kind]:
        raw = args[FD_ARG[kind]]
        fd = raw if 0 <= raw < 1 << 31 else None
    if kind in COUNT_ARG and len(args) > COUNT_ARG[kind]:
        raw = args[COUNT_ARG[kind]]
        count = raw if 0 <= raw < 1 << 31 else None
    return Call("syscall", name, kind, fd, count)


def from_wchan(wchan: str) -> Call:
    """A sample from the kernel function a thread sleeps in (no syscall table for its arch)."""
    symbol = wchan.strip()
    if not symbol or symbol == "0":
        return Call("unknown")
    for needle, kind in WCHAN_KINDS:
        if needle in symbol:
            return Call("syscall", symbol, kind)
    return Call("syscall", symbol)
