"""What Linux says about a process and a directory: CPU time, peak RSS, filesystem, machine.

Everything here reads ``/proc`` (and ``redis-server --version``); a process that has
gone away reads as ``None`` rather than raising, because a benchmark's figures should
say "unknown" instead of crashing at the end of a long run.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime+stime of ``pid`` (all its threads) from ``/proc/PID/stat``, in seconds."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK      # utime, stime (fields 14, 15)


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set size (``VmHWM`` in ``/proc/PID/status``), in KiB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def filesystem(path: Path) -> str:
    """The filesystem type ``path`` lives on (``ext4``, ``tmpfs``, ...), from ``/proc/mounts``."""
    target = os.path.realpath(path)
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            mount = parts[1].replace("\\040", " ")
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, kind = mount, parts[2]
    return kind


#: Filesystems that live in memory: fsync there costs nothing, so a ledger on one is no test.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def machine() -> dict[str, object]:
    """nproc, CPU model, kernel, Python and the redis-server on PATH."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    server = shutil.which("redis-server")
    version = "not on PATH"
    if server is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            version = subprocess.run([server, "--version"], capture_output=True, text=True,
                                     timeout=10).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "redis_server": version}
