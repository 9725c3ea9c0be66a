"""One look at a running process from outside: its interpreter, threads, descriptors and limits.

Everything comes from /proc; nothing is injected into the process and nothing in it changes.
Files inside the process's own root (a chroot, a container) are reached through
/proc/PID/root and resolved component by component within that root, so a symbolic link in a
hostile container cannot send iodetect to a file of the host.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from collections import Counter
from dataclasses import dataclass

from iodetect.inspect import analysis, procfs, sockets, syscalls
from iodetect.inspect.model import (
    Descriptors,
    Epoll,
    Interpreter,
    Limits,
    Snapshot,
    Thread,
)
from iodetect.inspect.procfs import AccessDenied, InspectError, NotPython, ProcessGone

FD_SCAN_LIMIT = 200_000  # descriptors counted
FD_READ_LIMIT = 65_536  # descriptors whose targets are read
THREAD_LIMIT = 256  # threads sampled
EPOLL_TARGETS_SHOWN = 64
# An epoll instance's fdinfo has a line of about 80 bytes per registration: it is counted in
# chunks, never held whole, up to about 300 000 registrations (more than FD_SCAN_LIMIT).
FDINFO_LIMIT = 24 * 1024 * 1024
FDINFO_CHUNK = 256 * 1024
SAMPLES = 8
SPACING = 0.025

# Libraries worth naming when mapped: the alternative loops, and servers or runtimes that
# bring their own (their native modules show in /proc/PID/maps).
LIBRARY_PATTERNS = (
    ("uvloop", re.compile(r"/uvloop/loop\.[^/]*\.so$")),
    ("winloop", re.compile(r"/winloop/loop\.[^/]*\.(so|pyd)$")),
    ("rloop", re.compile(r"/rloop/_rloop\.[^/]*\.so$")),
    ("granian", re.compile(r"/granian/_granian\.[^/]*\.so$")),
    ("gevent", re.compile(r"/gevent/[^/]*\.so$")),
    ("httptools", re.compile(r"/httptools/parser/parser\.[^/]*\.so$")),
)

_EXE_NAME = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?(t|d|m|u)*$")
_LIBPYTHON = re.compile(r"/libpython(\d)\.(\d+)(t?)d?\.so")
_SOABI = re.compile(r"\.cpython-(\d)(\d+)(t?)d?-[^/]*\.so$")
_LIBPYPY = re.compile(r"/libpypy(\d?)(\.\d+)?-c\.so")
_PYPY_LIB = re.compile(r"/lib/pypy(\d)\.(\d+)/")
_SITE = re.compile(r"^(.*)/lib(?:64)?/(python|pypy)\d(\.\d+)?t?/site-packages/")


@dataclass(frozen=True)
class _Status:
    name: str
    tgid: int
    ppid: int
    uid: int
    gid: int
    ns_pid: int
    threads: int
    state: str  # R, S, D, Z, ...: the first letter of State


def _status(pid: int) -> _Status:
    try:
        text = procfs.read_text(procfs.path(pid, "status"))
    except OSError as exc:
        raise ProcessGone(f"no process with PID {pid}") from exc
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()

    def num(key: str, default: int = 0, index: int = 0) -> int:
        try:
            return int(fields.get(key, "").split()[index])
        except (ValueError, IndexError):
            return default

    ns = fields.get("NSpid", "").split()
    return _Status(
        name=procfs.clean(fields.get("Name", "?"), 32),
        tgid=num("Tgid", pid),
        ppid=num("PPid"),
        uid=num("Uid", 0, 1),  # the effective uid
        gid=num("Gid", 0, 1),
        ns_pid=int(ns[-1]) if ns and ns[-1].isdigit() else pid,
        threads=num("Threads", 1),
        state=fields.get("State", "?")[:1],
    )


def in_root(host_path: str, root: str) -> str | None:
    """A path as iodetect sees it, turned into the path the process sees (inside its root)."""
    if root in ("", "/"):
        return host_path
    if host_path == root:
        return "/"
    if host_path.startswith(root.rstrip("/") + "/"):
        return host_path[len(root.rstrip("/")) :]
    return None  # not under its root: a container's own mount, already relative to it


def resolve_in_root(pid: int, target: str, limit: int = 32) -> str | None:
    """`target` (as the process sees it) with every symbolic link resolved inside its root."""
    base = procfs.path(pid, "root")
    parts = [p for p in target.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/" + "/".join([*done, part])
        try:
            st = os.lstat(base + candidate)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > limit:
                return None
            try:
                link = os.readlink(base + candidate)
            except OSError:
                return None
            if link.startswith("/"):
                done = []
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        done.append(part)
    return "/" + "/".join(done)


def _same_file(pid: int, inside: str) -> bool:
    """Whether `inside` (resolved in the process's root) is the file the process executes."""
    resolved = resolve_in_root(pid, inside)
    if resolved is None:
        return False
    try:
        a = os.stat(procfs.path(pid, "root") + resolved)
        b = os.stat(procfs.path(pid, "exe"))
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _venv_of(pid: int, prefix: str) -> bool:
    """Whether `prefix` (inside the process's root) holds a pyvenv.cfg, a regular file."""
    resolved = resolve_in_root(pid, prefix)
    if resolved is None:
        return False
    try:
        st = os.lstat(procfs.path(pid, "root") + resolved.rstrip("/") + "/pyvenv.cfg")
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode)


def recognise(
    exe: str, maps: list[str], argv: list[str], cwd: str | None, pid: int | None = None
) -> Interpreter:
    """Which Python a process runs, from its executable and the files it maps.

    Paths are as the process sees them. pid (when given) lets the virtual environment be
    confirmed inside the process's root; without it, the environment is not looked for.
    """
    replaced = exe.endswith(" (deleted)")
    exe = exe[: -len(" (deleted)")] if replaced else exe
    base = exe.rsplit("/", 1)[-1]
    exe_match = _EXE_NAME.match(base)
    implementation = "cpython"
    version: str | None = None
    free = False
    evidence: list[str] = []
    for name in maps:
        m = _LIBPYPY.search(name)
        if m:
            implementation = "pypy"
            evidence.append(f"maps {name.rsplit('/', 1)[-1]}")
            break
    for name in maps:
        m = _LIBPYTHON.search(name)
        if m and implementation == "cpython":
            version = f"{m.group(1)}.{m.group(2)}"
            free = free or m.group(3) == "t"
            evidence.append(f"maps {name.rsplit('/', 1)[-1]}")
            break
    for name in maps:
        m = _SOABI.search(name)
        if m and implementation == "cpython":
            version = version or f"{m.group(1)}.{m.group(2)}"
            free = free or m.group(3) == "t"
            if not evidence:
                evidence.append(f"extension modules for cpython-{m.group(1)}{m.group(2)}")
            break
    if implementation == "pypy":
        for name in maps:
            m = _PYPY_LIB.search(name)
            if m:
                version = f"{m.group(1)}.{m.group(2)}"
                break
    if exe_match:
        if "pypy" in base:
            implementation = "pypy"
        number = exe_match.group(2)
        if version is None and number and "." in number:
            version = number
        free = free or (base.endswith("t") and bool(number))
        evidence.insert(0, f"executable {base}")
    if not evidence:
        raise NotPython(
            f"its executable is {procfs.clean(exe, 120)} and it maps no Python runtime "
            "(libpython, Python extension modules)"
        )
    embedded = exe_match is None
    venv = run_path = None
    if pid is not None and not embedded:
        venv, run_path = _environment(pid, exe, maps, argv, cwd)
    return Interpreter(
        implementation=implementation,
        version=version,
        free_threaded=free,
        executable=procfs.clean(exe, 300),
        evidence=procfs.clean(", ".join(evidence), 300),
        venv=procfs.clean(venv, 300) if venv else None,
        run_path=procfs.clean(run_path, 300) if run_path else None,
        run=run_path,
        replaced=replaced,
        embedded=embedded,
    )


def _environment(
    pid: int, exe: str, maps: list[str], argv: list[str], cwd: str | None
) -> tuple[str | None, str | None]:
    """(virtual environment, the python to run for it), both as the process sees them.

    /proc/PID/exe is the real binary: a venv's python is a symbolic link to it, so the venv
    shows only in how the process was started (argv[0], a script's #! line) or in the
    packages it maps. The python found must be the very file the process executes.
    """
    candidates: list[str] = []
    if argv and "/" in argv[0]:
        first = argv[0] if argv[0].startswith("/") else f"{cwd or '/'}/{argv[0]}"
        candidates.append(os.path.normpath(first))
    prefixes: list[str] = []
    for name in maps:
        m = _SITE.match(name)
        if m and m.group(1) not in prefixes:
            prefixes.append(m.group(1))
    for prefix in prefixes[:8]:
        for tail in ("python", "python3", exe.rsplit("/", 1)[-1]):
            candidates.append(f"{prefix}/bin/{tail}")
    for cand in candidates[:24]:
        if not _same_file(pid, cand):
            continue
        parent = cand.rsplit("/", 1)[0]
        if parent.endswith("/bin") and _venv_of(pid, parent[: -len("/bin")]):
            return parent[: -len("/bin")], cand
        return None, cand
    return None, exe


def asyncio_imported(pid: int, maps: list[str]) -> bool | None:
    """Whether the process imported asyncio, from its memory map (paths as it sees them).

    Lib/asyncio/events.py imports the C module _asyncio (3.8 to 3.15), so an import maps
    `_asyncio.cpython-*.so` where the interpreter has it as a shared module in lib-dynload.
    False only when that file is there and not mapped; None when the map cannot tell (a
    build with _asyncio built in, as Debian's, or no lib-dynload folder mapped).
    """
    folder = None
    for name in maps:
        base = name.rsplit("/", 1)[-1]
        if base.startswith("_asyncio.") and base.endswith(".so"):
            return True
        if folder is None and "/lib-dynload/" in name:
            folder = name.rsplit("/", 1)[0]
    resolved = resolve_in_root(pid, folder) if folder else None
    if resolved is None:
        return None
    try:
        with os.scandir(procfs.path(pid, "root") + resolved) as it:
            for i, entry in enumerate(it):
                if i >= 4096:
                    break
                if entry.name.startswith("_asyncio.") and entry.name.endswith(".so"):
                    return False
    except OSError:
        return None
    return None


def _maps(pid: int) -> tuple[list[str], bool]:
    """The files the process maps, once each, and whether the map went on past its bound."""
    seen: dict[str, None] = {}
    try:
        lines, cut = procfs.read_lines(procfs.path(pid, "maps"), procfs.MAPS_LIMIT)
        for raw in lines:
            parts = raw.decode("utf-8", "replace").split(None, 5)
            if len(parts) == 6 and parts[5].startswith("/"):
                seen.setdefault(parts[5], None)
    except OSError as exc:
        raise procfs.explain(pid, exc, "the memory map (/proc/PID/maps)") from None
    return list(seen), cut.cut


def _limits(pid: int) -> Limits:
    try:
        text = procfs.read_text(procfs.path(pid, "limits"))
    except OSError as exc:
        raise procfs.explain(pid, exc, "the limits") from None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            fields = line[len("Max open files") :].split()
            return Limits(_limit(fields[0]), _limit(fields[1]) if len(fields) > 1 else None)
    return Limits(None, None)


def _limit(text: str) -> int | None:
    if text == "unlimited":
        return -1
    try:
        return int(text)
    except ValueError:
        return None


def _fd_kind(target: str) -> str:
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("anon_inode:"):
        name = target[len("anon_inode:") :].strip("[]")
        return {
            "eventpoll": "eventpoll",
            "eventfd": "eventfd",
            "timerfd": "timerfd",
            "signalfd": "signalfd",
            "io_uring": "io_uring",
            "inotify": "inotify",
            "pidfd": "pidfd",
        }.get(name, "anon")
    if target.startswith("/dev/"):
        return "device"
    if target.startswith("/"):
        return "file"
    return "other"


def descriptors(
    pid: int, deadline: procfs.Deadline | None = None, tables: tuple[str, ...] | None = None
) -> Descriptors:
    """Open descriptors by kind, listening sockets, connections, and each epoll's registrations."""
    return read_descriptors(pid, deadline, tables)[0]


def read_descriptors(
    pid: int, deadline: procfs.Deadline | None = None, tables: tuple[str, ...] | None = None
) -> tuple[Descriptors, dict[int, str], dict[int, str]]:
    """The descriptors, with each one's label for people and kind (tcp, unix, pipe, ...)."""
    fd_dir = procfs.path(pid, "fd")
    numbers: list[int] = []
    truncated = False
    try:
        with os.scandir(fd_dir) as it:
            for entry in it:
                if len(numbers) >= FD_SCAN_LIMIT:
                    truncated = True
                    break
                if entry.name.isdigit():
                    numbers.append(int(entry.name))
    except OSError as exc:
        raise procfs.explain(pid, exc, "the descriptors (/proc/PID/fd)") from None
    numbers.sort()
    targets: dict[int, str] = {}
    for n in numbers[:FD_READ_LIMIT]:
        if deadline is not None and deadline.passed():
            truncated = True
            break
        try:
            targets[n] = procfs.readlink(f"{fd_dir}/{n}")
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise procfs.explain(pid, exc, "the descriptors (/proc/PID/fd)") from None
            continue  # closed meanwhile
    if len(numbers) > FD_READ_LIMIT:
        truncated = True
    kinds: dict[int, str] = {n: _fd_kind(t) for n, t in targets.items()}
    inodes = {i for t in targets.values() if (i := sockets.socket_inode(t)) is not None}
    table = sockets.read(pid, inodes) if tables is None else sockets.read(pid, inodes, tables)
    by_kind: Counter[str] = Counter()
    listening: list[str] = []
    listen_inodes: list[int] = []
    established = 0
    labels = {n: procfs.clean(t, 120) for n, t in targets.items()}
    for n, target in targets.items():
        kind = kinds[n]
        inode = sockets.socket_inode(target)
        if inode is not None and inode in table.sockets:
            sock = table.sockets[inode]
            kind = sock.family
            kinds[n] = kind
            peer = f" <- {sock.remote}" if sock.remote and sock.state != "LISTEN" else ""
            labels[n] = f"{sock.family} {sock.local}{peer} {sock.state}".strip()
            if sock.state == "LISTEN":
                label = f"{sock.local} ({sock.family})"
                if label not in listening:
                    listening.append(label)
                if sock.family == "tcp":
                    listen_inodes.append(inode)
            elif sock.state == "ESTABLISHED" and sock.family == "tcp":
                established += 1
        by_kind[kind] += 1
    epolls: list[Epoll] = []
    for n, kind in kinds.items():
        if kind == "eventpoll" and len(epolls) < 32:
            epolls.append(_epoll(pid, n, kinds))
    found = Descriptors(
        open=len(numbers),
        highest=numbers[-1] if numbers else None,
        by_kind=dict(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
        listening=tuple(listening[:32]),
        established=established,
        epolls=tuple(epolls),
        listen_inodes=tuple(listen_inodes),
        truncated=truncated or table.truncated or any(e.truncated for e in epolls),
    )
    return found, labels, kinds


def _epoll(pid: int, fd: int, kinds: dict[int, str]) -> Epoll:
    """The registrations of one epoll instance, from its fdinfo (a `tfd:` line each)."""
    targets: list[int] = []
    seen_kinds: set[str] = set()
    count = 0
    try:
        lines, cut = procfs.read_lines(
            procfs.path(pid, "fdinfo", str(fd)), FDINFO_LIMIT, FDINFO_CHUNK
        )
        for line in lines:
            if not line.startswith(b"tfd:"):
                continue
            count += 1
            try:
                target = int(line.split()[1])
            except (ValueError, IndexError):
                continue
            seen_kinds.add(kinds.get(target, "?"))
            if len(targets) < EPOLL_TARGETS_SHOWN:
                targets.append(target)
    except OSError:
        return Epoll(fd, count, tuple(targets), tuple(sorted(seen_kinds)), True)
    return Epoll(fd, count, tuple(targets), tuple(sorted(seen_kinds)), cut.cut)


def _arch(pid: int) -> str | None:
    try:
        header, _cut = procfs.read_bytes(procfs.path(pid, "exe"), 64)
    except OSError:
        return None
    return syscalls.elf_machine(header)


@dataclass
class _Sampler:
    """Per-thread tallies over repeated samples of /proc/PID/task/TID/syscall."""

    pid: int
    arch: str | None
    tids: list[int]

    def __post_init__(self) -> None:
        self.calls: dict[int, Counter[str]] = {t: Counter() for t in self.tids}
        self.last: dict[int, dict[str, syscalls.Call]] = {t: {} for t in self.tids}
        self.samples: dict[int, int] = dict.fromkeys(self.tids, 0)
        self.waits: dict[int, int] = dict.fromkeys(self.tids, 0)
        self.use_wchan = self.arch not in syscalls.TABLES
        self.denied = False

    def sample(self, tid: int) -> syscalls.Call | None:
        base = procfs.path(self.pid, "task", str(tid))
        try:
            if self.use_wchan:
                call = syscalls.from_wchan(procfs.read_text(base + "/wchan", 256))
            else:
                call = syscalls.parse(procfs.read_text(base + "/syscall", 512), self.arch)
        except PermissionError:
            self.denied = True
            self.use_wchan = True  # wchan needs less privilege than syscall
            return None
        except OSError:
            return None  # the thread ended
        label = call.name if call.state == "syscall" and call.name else call.state
        self.calls[tid][label] += 1
        self.last[tid][label] = call
        self.samples[tid] += 1
        if call.kind in syscalls.EVENT_KINDS:
            self.waits[tid] += 1
        return call

    def round(self) -> None:
        for tid in self.tids:
            self.sample(tid)


def _thread_info(pid: int, tid: int) -> tuple[str, str, int]:
    base = procfs.path(pid, "task", str(tid))
    try:
        name = procfs.clean(procfs.read_text(base + "/comm", 64).strip(), 32)
        fields = procfs.stat_fields(procfs.read_text(base + "/stat"))
        return name, fields[0], int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return "?", "?", 0


def describe_fd(fd: int | None, labels: dict[int, str], desc: Descriptors) -> str | None:
    """What a descriptor a thread waits on is, for people."""
    if fd is None:
        return None
    for ep in desc.epolls:
        if ep.fd == fd:
            return f"epoll fd {fd} ({ep.registered} registered)"
    label = labels.get(fd)
    return f"fd {fd}" if label is None else f"fd {fd} {label}"


def threads(
    pid: int, arch: str | None, samples: int = SAMPLES, spacing: float = SPACING
) -> tuple[_Sampler, int]:
    """Sample every thread `samples` times; the tallies, and how many threads there are."""
    try:
        tids = sorted(int(t) for t in os.listdir(procfs.path(pid, "task")) if t.isdigit())
    except OSError as exc:
        raise procfs.explain(pid, exc, "the threads") from None
    total = len(tids)
    # The main thread first, then the others up to the limit.
    tids = sorted(tids, key=lambda t: (t != pid, t))[:THREAD_LIMIT]
    sampler = _Sampler(pid, arch, tids)
    for i in range(max(1, samples)):
        if i:
            time.sleep(spacing)
        sampler.round()
    return sampler, total


def thread_views(
    sampler: _Sampler,
    pid: int,
    desc: Descriptors,
    targets: dict[int, str],
    kinds: dict[int, str],
) -> tuple[Thread, ...]:
    views = []
    for tid in sampler.tids:
        tally = sampler.calls[tid]
        name, state, ticks = _thread_info(pid, tid)
        if not tally:
            views.append(Thread(tid, name, state, None, None, None, None, None, None, 0, 0, ticks))
            continue
        # The event wait counts first when it was seen at all: a busy loop shows it rarely.
        waits = [c for c in tally if sampler.last[tid][c].kind in syscalls.EVENT_KINDS]
        label = max(waits, key=lambda c: tally[c]) if waits else tally.most_common(1)[0][0]
        call = sampler.last[tid][label]
        on = describe_fd(call.fd, targets, desc)
        if call.kind in ("poll", "select") and call.count is not None:
            on = (
                f"{call.count} descriptor(s)"
                if call.kind == "poll"
                else f"descriptors below {call.count}"
            )
        views.append(
            Thread(
                tid=tid,
                name=name,
                state=state,
                call=label,
                kind=call.kind,
                fd=call.fd,
                count=call.count,
                on=on,
                fd_kind=kinds.get(call.fd) if call.fd is not None else None,
                samples=sampler.samples[tid],
                waits=sampler.waits[tid],
                cpu_ticks=ticks,
            )
        )
    return tuple(views)


def _ns(pid: int, name: str) -> bool:
    try:
        return os.readlink(procfs.path(pid, "ns", name)) == os.readlink(f"/proc/self/ns/{name}")
    except OSError:
        return True


def take(
    pid: int,
    deadline: procfs.Deadline | None = None,
    samples: int = SAMPLES,
    spacing: float = SPACING,
) -> Snapshot:
    """Read one process. Raises InspectError (ProcessGone, AccessDenied, NotPython): one line."""
    start = time.monotonic()
    if not os.path.isdir(procfs.PROC + "/self"):
        raise procfs.Unsupported("/proc is not mounted")
    started = procfs.start_time(pid)
    st = _status(pid)
    if st.state == "Z":
        raise ProcessGone(
            f"process {pid} ({st.name}) has exited: a zombie whose parent has not collected its "
            "exit status yet"
        )
    if st.tgid != pid:
        raise InspectError(f"{pid} is a thread of process {st.tgid}; inspect {st.tgid}")
    try:
        exe_host = procfs.readlink(procfs.path(pid, "exe"))
    except OSError as exc:
        if exc.errno == errno.ENOENT and procfs.alive(pid, started):
            raise NotPython(f"process {pid} ({st.name}) is a kernel thread, not Python") from None
        raise procfs.explain(pid, exc, "the executable (/proc/PID/exe)") from None
    try:
        root = procfs.readlink(procfs.path(pid, "root"))
        cwd_host: str | None = procfs.readlink(procfs.path(pid, "cwd"))
    except OSError as exc:
        raise procfs.explain(pid, exc, "the root directory") from None
    maps_host, maps_cut = _maps(pid)
    try:
        raw = procfs.read_bytes(procfs.path(pid, "cmdline"), 16384)[0]
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    except OSError:
        argv = []
    cwd = in_root(cwd_host, root) if cwd_host else None
    maps = [p for p in (in_root(m, root) for m in maps_host) if p is not None]
    exe = in_root(exe_host, root) or exe_host
    try:
        interp = recognise(exe, maps, argv, cwd, pid)
    except NotPython as exc:
        if not procfs.alive(pid, started):
            raise ProcessGone(f"process {pid} exited while it was being inspected") from None
        raise NotPython(f"process {pid} ({st.name}) is not Python: {exc}") from None
    libraries: dict[str, str] = {}
    for name in maps:
        for lib, pattern in LIBRARY_PATTERNS:
            if lib not in libraries and pattern.search(name):
                libraries[lib] = procfs.clean(name, 300)
    arch = _arch(pid)
    limits = _limits(pid)
    desc, targets, kinds = read_descriptors(pid, deadline)
    sampler, total = threads(pid, arch, samples, spacing)
    views = thread_views(sampler, pid, desc, targets, kinds)
    notes = []
    if sampler.denied:
        notes.append(
            "the kernel hides which system call each thread is in (/proc/PID/task/TID/syscall "
            "needs ptrace rights); the kernel function it sleeps in (wchan) was used instead"
        )
    elif sampler.use_wchan:
        notes.append(
            f"no system call table for this architecture ({arch or 'unknown'}); threads are "
            "read from the kernel function they sleep in (wchan)"
        )
    if total > len(sampler.tids):
        notes.append(f"{total} threads: the first {len(sampler.tids)} were sampled")
    if desc.truncated:
        notes.append("more descriptors or sockets than iodetect reads: counts are a lower bound")
    if maps_cut:
        notes.append(
            f"the memory map is longer than the {procfs.MAPS_LIMIT // (1024 * 1024)} MiB "
            "iodetect reads: a library mapped past it (an alternative loop) was not seen"
        )
    if not procfs.alive(pid, started):
        raise ProcessGone(f"process {pid} exited while it was being inspected")
    imported = asyncio_imported(pid, maps) if interp.implementation == "cpython" else None
    if imported is False and maps_cut:
        imported = None  # _asyncio may be mapped past the part that was read
    loop = analysis.loop_of(pid, views, desc, libraries, imported)
    return Snapshot(
        pid=pid,
        started=started,
        ppid=st.ppid,
        uid=st.uid,
        gid=st.gid,
        name=st.name,
        command=procfs.redact_command(argv),
        arch=arch,
        interpreter=interp,
        libraries=libraries,
        threads=views,
        threads_total=total,
        descriptors=desc,
        limits=limits,
        loop=loop,
        root=procfs.clean(root, 300),
        own_root=root == "/",
        own_mount_ns=_ns(pid, "mnt"),
        own_pid_ns=_ns(pid, "pid"),
        own_net_ns=_ns(pid, "net"),
        ns_pid=st.ns_pid,
        seconds=time.monotonic() - start,
        notes=tuple(notes),
    )


__all__ = ["AccessDenied", "InspectError", "NotPython", "ProcessGone", "take"]
