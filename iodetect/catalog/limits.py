"""Descriptor limits: what a service needs, what the kernel enforces, and when a limit hurts."""

from __future__ import annotations

# Descriptors a service needs besides one per connection: listeners, the loop's own (selector,
# self-pipe), logs, standard streams, a resolver. iodetect's own allowance, not a kernel fact.
HEADROOM = 64

# Above this soft limit, code that walks every possible descriptor (subprocess's close_fds
# without /proc, os.closerange(3, soft)) makes that many close() calls: container runtimes
# hand out soft limits near 2**30. The generated code raises the soft limit no higher than
# this unless the service needs more; a soft limit already above it is reported as a hazard.
SANE_MAX = 1 << 20  # 1048576
SRC_HUGE = (
    "cpython gh-127177 (a child closing every descriptor up to RLIMIT_NOFILE 1073741816 in "
    "docker); moby/moby#9876 and bpo-1663329 (close_fds slow with a high limit); "
    "containerd/containerd#7566 (LimitNOFILE=infinity)"
)
SRC_GO = "golang/go#46279 (Go 1.19 raises the soft RLIMIT_NOFILE to the hard limit at start-up)"
SRC_GO_DARWIN = (
    "golang/go src/os/rlimit_darwin.go: 'On older macOS, setrlimit(RLIMIT_NOFILE, lim) with "
    "lim.Cur = infinity fails. Set to the value of kern.maxfilesperproc instead.'"
)
SRC_MACOS = (
    "xnu bsd/kern/kern_resource.c dosetrlimit(): a larger RLIMIT_NOFILE is accepted; the kernel "
    "enforces MIN(RLIMIT_NOFILE, maxfilesperproc)"
)
SRC_LINUX_NR_OPEN = "proc(5): /proc/sys/fs/nr_open is the ceiling of RLIMIT_NOFILE"
SRC_HARD = (
    "setrlimit(2): an unprivileged process may raise its soft limit up to the hard limit only"
)

# Remedies, in the same words in every command (check, fleet, inspect) for the same limit; {n}
# is the figure to raise it to.
NOFILE_REMEDY = (
    "raise the open-files limit where the service starts: `ulimit -n {n}` in the shell or "
    "entrypoint (up to the hard limit), `LimitNOFILE={n}` in the systemd unit, "
    "`docker run --ulimit nofile={n}:{n}` (or `ulimits: nofile:` in compose); Kubernetes has no "
    "per-pod setting, so raise it in the container runtime (containerd/CRI-O default ulimits or "
    "LimitNOFILE= of its systemd unit) or with `ulimit -n` in the entrypoint; or have the "
    "service raise its soft limit to the hard one at start-up (the module `iodetect snippet` "
    "writes does)"
)
HARD_REMEDY = (
    "the hard limit caps what a process may raise itself to; only its parent can raise it: "
    "`LimitNOFILE={n}` in the systemd unit, `docker run --ulimit nofile={n}:{n}`, the container "
    "runtime's default ulimits for Kubernetes, or /etc/security/limits.conf for logins"
)
NR_OPEN_REMEDY = (  # SRC_LINUX_NR_OPEN
    "the hard limit is unlimited, and Linux caps it at fs.nr_open: raise it first "
    "(`sysctl -w fs.nr_open={n}`), then " + HARD_REMEDY
)
MAXFILESPERPROC_REMEDY = (  # SRC_MACOS
    "macOS caps every process at kern.maxfilesperproc: `sudo sysctl kern.maxfilesperproc={n}` "
    "and `launchctl limit maxfiles {n} {n}`"
)
# Round figures a remedy suggests: the first at or above the need.
ROUND_NOFILE = (1024, 4096, 8192, 16384, 65536, 262144, 1048576)
