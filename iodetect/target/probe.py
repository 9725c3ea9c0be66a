"""The probe: what I/O machinery this interpreter on this host has. Standard library, CPython 3.8+.

Sent to any interpreter on stdin (`python -`); prints one MARKER line with the facts as JSON.
It reports raw facts only: what is installed, what imports, what a measurement showed. What to
look for (selector names and classes, loop and library distributions) arrives in its
parameters from iodetect's catalog, and whether anything is supported is decided there too:
this script carries no table of its own. Each fact is gathered in isolation: a probe that fails
is recorded with its error text and the others go on. Nothing here may emit a warning: it runs
under `-W error`.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import socket
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

MARKER = "@@iodetect@@ "
SCHEMA_VERSION = 1


def _error(exc: BaseException) -> str:
    text = "%s: %s" % (type(exc).__name__, exc)
    return text if len(text) <= 300 else text[:297] + "..."


class Probe:
    def __init__(self) -> None:
        self.errors: List[Dict[str, str]] = []

    def run(self, name: str, func: Callable[[], Any], default: Any = None) -> Any:
        """Call one probe; a failure becomes an error entry and `default`."""
        try:
            return func()
        except Exception as exc:  # one failing fact must not sink the others
            self.errors.append({"probe": name, "error": _error(exc)})
            return default


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read().strip()


def _read_int(path: str) -> Optional[int]:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- host ------------------------------------------------------------------------------------


def host_facts(probe: Probe) -> Dict[str, Any]:
    plat = sys.platform
    uname = probe.run("host.uname", platform.uname)
    # "is not None": the truth of a uname_result is its length, and that runs `uname -p`.
    release = uname.release if uname is not None else None
    facts = {
        "platform": plat,
        "os_name": uname.system if uname is not None else None,
        "os_release": release,
        "machine": uname.machine if uname is not None else None,
        "cpu_count": os.cpu_count(),
        "usable_cpus": probe.run("host.usable_cpus", _usable_cpus),
        "cpu_quota": probe.run("host.cpu_quota", _cpu_quota) if plat.startswith("linux") else None,
        "container": probe.run("host.container", _container) if plat.startswith("linux") else None,
        "virtualization": probe.run("host.virtualization", _virtualization),
        "wsl": bool(release and "microsoft" in release.lower()),
    }
    return facts


def _usable_cpus() -> Optional[int]:
    if hasattr(os, "process_cpu_count"):  # 3.13+
        count: Optional[int] = os.process_cpu_count()
        return count
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _cpu_quota() -> Optional[float]:
    try:
        text_quota, text_period = _read("/sys/fs/cgroup/cpu.max").split()[:2]  # cgroup v2
        return None if text_quota == "max" else round(int(text_quota) / int(text_period), 2)
    except OSError:
        pass
    quota = _read_int("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")  # cgroup v1
    period = _read_int("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota is None or period is None or quota <= 0:
        return None
    return round(quota / period, 2)


def _container() -> Optional[str]:
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    try:
        env = _read("/proc/1/environ") if os.access("/proc/1/environ", os.R_OK) else ""
    except OSError:
        env = ""
    if "container=" in env:
        return env.split("container=", 1)[1].split("\0", 1)[0] or "container"
    try:
        cgroup = _read("/proc/self/cgroup")
    except OSError:
        return None
    for word in ("kubepods", "docker", "containerd", "libpod", "lxc"):
        if word in cgroup:
            return {"kubepods": "kubernetes", "libpod": "podman"}.get(word, word)
    return None


def _virtualization() -> Optional[str]:
    if sys.platform.startswith("linux"):
        for path in ("/sys/hypervisor/type", "/sys/class/dmi/id/sys_vendor"):
            try:
                text = _read(path)
            except OSError:
                continue
            low = text.lower()
            for key, name in (
                ("kvm", "kvm"),
                ("qemu", "qemu"),
                ("vmware", "vmware"),
                ("microsoft", "microsoft"),
                ("xen", "xen"),
                ("amazon", "kvm"),
                ("google", "kvm"),
                ("virtualbox", "virtualbox"),
                ("innotek", "virtualbox"),
            ):
                if key in low:
                    return name
        try:
            with open("/proc/cpuinfo") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        return "unknown hypervisor" if " hypervisor" in line else None
        except OSError:
            return None
    return None


# --- interpreter -----------------------------------------------------------------------------


def interpreter_facts(probe: Probe) -> Dict[str, Any]:
    free_threaded = False  # no build before 3.13 has Py_GIL_DISABLED (PEP 703, What's New 3.13)
    if sys.version_info >= (3, 13):
        import sysconfig

        free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
    vi = sys.version_info
    release = "%d.%d.%d" % vi[:3]
    if vi.releaselevel != "final":
        release += {"alpha": "a", "beta": "b", "candidate": "rc"}[vi.releaselevel] + str(vi.serial)
    iv = sys.implementation.version
    impl_version = "%d.%d.%d" % (iv.major, iv.minor, iv.micro)
    if iv.releaselevel != "final":
        impl_version += {"alpha": "a", "beta": "b", "candidate": "rc"}.get(iv.releaselevel, "?")
        impl_version += str(iv.serial)
    return {
        "implementation": sys.implementation.name,
        "version": [vi[0], vi[1], vi[2]],
        "release": release,
        "executable": sys.executable or None,
        "free_threaded": free_threaded,
        "gil_enabled": gil,
        "implementation_version": impl_version,
    }


# --- selectors -------------------------------------------------------------------------------


def selector_facts(probe: Probe, wanted: List[Tuple[str, str]]) -> Tuple[List[Dict[str, Any]], Any]:
    """Each requested (name, class): present in this build, and constructible here."""
    import select
    import selectors

    result = []
    for name, cls_name in wanted:
        cls = getattr(selectors, cls_name, None)
        if not hasattr(select, name) or cls is None:
            reason = "select.%s is absent on %s" % (name, sys.platform)
            result.append({"name": name, "available": False, "reason": reason})
            continue
        try:
            sel = cls()  # constructing is the test: a kernel or sandbox may refuse it
            sel.close()
        except Exception as exc:
            result.append(
                {"name": name, "available": False, "reason": "construction failed: " + _error(exc)}
            )
            continue
        result.append({"name": name, "available": True, "reason": None})
    default = selectors.DefaultSelector.__name__
    names = dict((cls_name, name) for name, cls_name in wanted)
    return result, names.get(default, default)


def asyncio_facts(probe: Probe) -> Dict[str, Any]:
    """The standard loop's class and selector, and what asyncio's API does here, measured."""
    import asyncio

    # new_event_loop() never warns, unlike get_event_loop() with no loop set.
    loop = asyncio.new_event_loop()
    try:
        selector = getattr(loop, "_selector", None)
        default_selector = type(selector).__name__ if selector is not None else None
        default_loop = type(loop).__name__
    finally:
        loop.close()
    run_code = getattr(asyncio.run, "__code__", None)
    params = ()
    if run_code is not None:
        params = run_code.co_varnames[: run_code.co_argcount + run_code.co_kwonlyargcount]
    return {
        "default_loop": default_loop,
        "default_selector": default_selector,
        "policies_deprecated": probe.run("asyncio.policies", _policies_warn, False),
        "get_event_loop_without_loop": probe.run("asyncio.get_event_loop", _get_event_loop),
        "has_runner": hasattr(asyncio, "Runner"),
        "run_loop_factory": "loop_factory" in params,
        "has_eventloop_alias": hasattr(asyncio, "EventLoop"),
    }


def _policies_warn() -> bool:
    """Does asking for the event-loop policy warn (the policy system is deprecated)?"""
    import asyncio
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.get_event_loop_policy()
    return any(issubclass(w.category, DeprecationWarning) for w in caught)


def _get_event_loop() -> str:
    """What asyncio.get_event_loop() does in the main thread with no loop set: ok, warns or
    raises. Measured, not looked up: releases disagree within a minor version (3.10.9)."""
    import asyncio
    import threading
    import warnings

    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("measurable in the main thread only")
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("a loop is running in this thread")
    loop = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            return "raises"
        finally:
            if loop is not None:  # the call created and set a loop: undo both
                asyncio.set_event_loop(None)
                loop.close()
    return "warns" if any(issubclass(w.category, DeprecationWarning) for w in caught) else "ok"


# --- alternative loops -----------------------------------------------------------------------


_DISTS: Optional[Dict[str, str]] = None


def _normalize(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def _scan_dists() -> Dict[str, str]:
    """Installed distributions on sys.path: normalized name -> metadata folder, first one wins.

    This is what importlib.metadata finds, read straight from the .dist-info/.egg-info folder
    names: it costs a directory listing per path entry instead of importing the email and
    zipfile machinery, which matters to the start-up time of `iodetect report`.
    """
    found: Dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file or a missing folder
            continue
        for item in names:
            if not item.endswith((".dist-info", ".egg-info")):
                continue
            dist = _normalize(item.rsplit(".", 1)[0].split("-", 1)[0])
            found.setdefault(dist, os.path.join(entry or ".", item))
    return found


def _dist_version(name: str) -> Optional[str]:
    """Version of an installed distribution from its metadata, without importing it."""
    global _DISTS
    if _DISTS is None:
        _DISTS = _scan_dists()
    folder = _DISTS.get(_normalize(name))
    if folder is None:
        return None
    for meta in ("METADATA", "PKG-INFO"):
        path = os.path.join(folder, meta) if os.path.isdir(folder) else folder
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break  # end of the headers
        except OSError:
            continue
    return None


def loop_facts(probe: Probe, names: List[str]) -> List[Dict[str, Any]]:
    """Each requested loop package: its installed version, and whether it imports."""
    import importlib

    result = []
    for name in names:
        version = probe.run("loops.%s.version" % name, functools.partial(_dist_version, name))
        entry = {"name": name, "installed": version, "importable": None, "import_error": None}
        if version is not None:
            try:
                importlib.import_module(name)
                entry["importable"] = True
            except BaseException as exc:  # a broken build may raise anything, even SystemExit
                entry["importable"] = False
                entry["import_error"] = _error(exc)
        result.append(entry)
    return result


# --- select() ceiling ------------------------------------------------------------------------


def select_ceiling(probe: Probe, soft: Optional[int]) -> Dict[str, Any]:
    import select

    if sys.platform == "win32":
        return _windows_select_ceiling()
    if not hasattr(select, "select"):
        return {"limit": None, "verified": False, "detail": "select() is absent"}
    if soft is not None and soft != -1 and soft <= 1024:
        return {
            "limit": 1024,
            "verified": False,
            "detail": "FD_SETSIZE 1024 assumed: the soft descriptor limit (%d) keeps descriptor "
            "1024 out of reach, so it cannot be tried" % soft,
        }
    import fcntl

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    high = None
    try:
        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 1024)  # lowest free descriptor >= 1024
        try:
            select.select([high], [], [], 0)
        except ValueError as exc:
            return {
                "limit": 1024,
                "verified": True,
                "detail": "select() on descriptor %d raised ValueError: %s" % (high, exc),
            }
        return {
            "limit": None,
            "verified": True,
            "detail": "select() accepted descriptor %d: no 1024 ceiling here" % high,
        }
    finally:
        if high is not None:
            os.close(high)
        sock.close()


def _windows_select_ceiling() -> Dict[str, Any]:
    import select

    socks = []
    try:
        for _ in range(513):
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        try:
            select.select(socks, [], [], 0)
        except ValueError as exc:
            return {
                "limit": 512,
                "verified": True,
                "detail": "select() on 513 sockets raised ValueError: %s" % exc,
            }
        return {"limit": None, "verified": True, "detail": "select() accepted 513 sockets"}
    finally:
        for s in socks:
            s.close()


# --- descriptor and kernel limits ------------------------------------------------------------


def limit_facts(probe: Probe) -> Dict[str, Any]:
    facts: Dict[str, Any] = {
        "nofile_soft": None,
        "nofile_hard": None,
        "open_fds": None,
        "nr_open": None,
        "file_max": None,
        "maxfilesperproc": None,
        "note": None,
    }
    if sys.platform == "win32":
        facts["note"] = (
            "Windows has no per-process descriptor limit like RLIMIT_NOFILE; "
            "select() stops at 512 sockets"
        )
        return facts
    import resource

    def rlimit() -> Tuple[int, int]:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        inf = resource.RLIM_INFINITY
        return (-1 if soft == inf else soft), (-1 if hard == inf else hard)

    limits = probe.run("limits.rlimit_nofile", rlimit, (None, None))
    facts["nofile_soft"], facts["nofile_hard"] = limits
    facts["open_fds"] = probe.run("limits.open_fds", _open_fds)
    if sys.platform.startswith("linux"):
        facts["nr_open"] = probe.run("limits.nr_open", lambda: int(_read("/proc/sys/fs/nr_open")))
        facts["file_max"] = probe.run(
            "limits.file_max", lambda: int(_read("/proc/sys/fs/file-max"))
        )
    elif sys.platform == "darwin":
        facts["maxfilesperproc"] = probe.run("limits.maxfilesperproc", _maxfilesperproc)
    return facts


def _open_fds() -> Optional[int]:
    for path in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(path):
            return len(os.listdir(path)) - 1  # listdir holds one descriptor of its own
    return None


def _maxfilesperproc() -> int:
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    value = ctypes.c_int(0)
    size = ctypes.c_size_t(ctypes.sizeof(value))
    if libc.sysctlbyname(b"kern.maxfilesperproc", ctypes.byref(value), ctypes.byref(size), None, 0):
        raise OSError(ctypes.get_errno(), "sysctlbyname(kern.maxfilesperproc) failed")
    return value.value


def kernel_facts(probe: Probe) -> Optional[Dict[str, Any]]:
    if not sys.platform.startswith("linux"):
        return None
    base = "/proc/sys/net/"
    return {
        "somaxconn": probe.run("kernel.somaxconn", lambda: int(_read(base + "core/somaxconn"))),
        "ip_local_port_range": probe.run(
            "kernel.ip_local_port_range",
            lambda: [int(x) for x in _read(base + "ipv4/ip_local_port_range").split()[:2]],
        ),
        "tcp_max_syn_backlog": probe.run(
            "kernel.tcp_max_syn_backlog", lambda: int(_read(base + "ipv4/tcp_max_syn_backlog"))
        ),
    }


def library_facts(probe: Probe, names: List[str]) -> List[Dict[str, str]]:
    """The requested distributions that are installed, found from metadata without import."""
    found = []
    for name in names:
        version = probe.run("libraries.%s" % name, functools.partial(_dist_version, name))
        if version is not None:
            found.append({"name": name, "version": version})
    return found


# --- all together ----------------------------------------------------------------------------


def gather(request: Any = None) -> Dict[str, Any]:
    """Every fact, as the JSON-ready dict of the facts model.

    request: {"selectors": [[name, class], ...], "loops": [...], "libraries": [...]}, what to
    look for (iodetect.catalog.probe_request()); anything missing is not looked for.
    """
    start = time.perf_counter()
    request = request if isinstance(request, dict) else {}
    wanted = [(str(n), str(c)) for n, c in request.get("selectors") or []]
    loops = [str(n) for n in request.get("loops") or []]
    libraries = [str(n) for n in request.get("libraries") or []]
    probe = Probe()
    selectors_found, default = probe.run(
        "selectors", lambda: selector_facts(probe, wanted), ([], None)
    )
    limits = limit_facts(probe)
    facts = {
        "kind": "iodetect.facts",
        "schema_version": SCHEMA_VERSION,
        "host": host_facts(probe),
        "interpreter": interpreter_facts(probe),
        "selectors": selectors_found,
        "default_selector": default,
        "asyncio": probe.run("asyncio", lambda: asyncio_facts(probe)),
        "loops": probe.run("loops", lambda: loop_facts(probe, loops), []),
        "select_ceiling": probe.run(
            "select_ceiling", lambda: select_ceiling(probe, limits["nofile_soft"])
        ),
        "limits": limits,
        "kernel": probe.run("kernel", lambda: kernel_facts(probe)),
        "libraries": probe.run("libraries", lambda: library_facts(probe, libraries), []),
    }
    facts["errors"] = probe.errors
    facts["origin"] = "probe"
    facts["probe_seconds"] = round(time.perf_counter() - start, 4)
    return facts


def main(params: Any = None) -> None:
    facts = gather(params)
    sys.stdout.write(MARKER + json.dumps(facts) + "\n")
    sys.stdout.flush()
