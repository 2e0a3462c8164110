"""Serving defaults derived from the CPU this process may use: cores, and the cgroup CPU limit.

A pod with `limits: cpu: 500m` sees every core of its node in os.cpu_count(), but
the kernel lets it run only 0.5 CPU-seconds per second (cgroup v2 cpu.max, v1
cpu.cfs_quota_us / cpu.cfs_period_us). Sizing gunicorn and onnxruntime from the core
count there would start threads that can only wait for each other.

The rule (README "Serving settings", measured by `python -m bench`):
- one single-threaded onnxruntime per worker, one request at a time per worker
  (gunicorn's sync worker): on 2 cores at concurrency 4 this beat every setting with
  more threads, which add thread hand-offs and oversubscribe the cores;
- one worker per usable CPU (rounded up), at least 2 (one keeps serving while the
  other is replaced, see tests/faults), at most MAX_WORKERS (each holds a model copy).
So 2 cores -> 2 workers; a 500m pod -> 2 workers sharing the 0.5 CPU; 8 cores -> 8.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

MIN_WORKERS = 2
MAX_WORKERS = 8
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class Capacity:
    cores: int  # CPUs this process may be scheduled on (affinity)
    limit: float | None  # cgroup CPU limit in CPUs, None when unlimited
    source: str  # where the limit was read, for the log line

    @property
    def cpus(self) -> float:
        return min(float(self.cores), self.limit) if self.limit is not None else float(self.cores)


@dataclass(frozen=True)
class ServingDefaults:
    workers: int
    threads: int
    ort_threads: int


def defaults_for(cpus: float) -> ServingDefaults:
    """The serving settings for `cpus` usable CPUs (fractions from a cgroup limit)."""
    if not cpus > 0:
        raise ValueError(f"usable CPUs must be > 0, got {cpus!r}")
    workers = min(MAX_WORKERS, max(MIN_WORKERS, math.ceil(cpus - 1e-9)))
    return ServingDefaults(workers=workers, threads=1, ort_threads=1)


def detect(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> Capacity:
    """Cores from the affinity mask; the tightest CPU limit of this process's cgroup and its parents."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    found = cgroup_cpu_limit(cgroup_root, proc_self_cgroup)
    return Capacity(cores=cores, limit=found[0] if found else None, source=found[1] if found else "none")


def cgroup_cpu_limit(cgroup_root: Path, proc_self_cgroup: Path) -> tuple[float, str] | None:
    """(CPUs, file) of the tightest cgroup v2 or v1 CPU quota on this process's path, or None."""
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    v2_path, v1_path = "/", "/"
    for line in lines:
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":
            v2_path = path or "/"
        elif "cpu" in controllers.split(","):
            v1_path = path or "/"
    limits = []
    if (cgroup_root / "cgroup.controllers").is_file():  # cgroup v2 (unified) mounted at the root
        for d in _dirs_up(cgroup_root, v2_path):
            value = _v2_limit(d / "cpu.max")
            if value is not None:
                limits.append((value, str(d / "cpu.max")))
    else:
        for mount in (cgroup_root / "cpu", cgroup_root / "cpu,cpuacct"):
            for d in _dirs_up(mount, v1_path):
                value = _v1_limit(d)
                if value is not None:
                    limits.append((value, str(d / "cpu.cfs_quota_us")))
    return min(limits) if limits else None


def _dirs_up(mount: Path, path: str) -> list[Path]:
    """The cgroup's directory and its parents up to the mount; in a container the mount is the
    container's own cgroup and the host path does not exist below it, so the mount itself counts."""
    out, d = [], mount / path.strip("/")
    while True:
        if d.is_dir():
            out.append(d)
        if d == mount or mount not in d.parents:
            break
        d = d.parent
    return out


def _v2_limit(path: Path) -> float | None:
    """cpu.max holds "QUOTA PERIOD" in microseconds, or "max PERIOD" for no limit."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return _ratio(quota, period)


def _v1_limit(d: Path) -> float | None:
    """cpu.cfs_quota_us (-1 for no limit) over cpu.cfs_period_us."""
    try:
        quota = (d / "cpu.cfs_quota_us").read_text().strip()
        period = (d / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None
