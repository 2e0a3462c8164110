"""app/capacity.py: usable CPUs from cores and fake cgroup v1/v2 files, and the serving defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import capacity


def v2_tree(root: Path, cpu_max: dict[str, str], self_path: str = "/") -> tuple[Path, Path]:
    """A cgroup v2 mount at root with cpu.max files at the given relative dirs; /proc/self/cgroup for self_path."""
    (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    for rel, text in cpu_max.items():
        d = root / rel.strip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "cpu.max").write_text(text + "\n")
    proc = root.parent / "proc-self-cgroup"
    proc.write_text(f"0::{self_path}\n")
    return root, proc


def v1_tree(root: Path, quota: str, period: str = "100000", mount: str = "cpu,cpuacct", rel: str = "") -> Path:
    d = root / mount / rel
    d.mkdir(parents=True, exist_ok=True)
    (d / "cpu.cfs_quota_us").write_text(quota + "\n")
    (d / "cpu.cfs_period_us").write_text(period + "\n")
    return root


def test_v2_pod_limit_500m_in_a_container(tmp_path):
    # In a pod the cgroup namespace shows the pod's own cgroup as "/" and its cpu.max at the mount.
    root, proc = v2_tree(tmp_path / "cg", {"/": "50000 100000"})
    cap = capacity.detect(root, proc)
    assert cap.limit == pytest.approx(0.5)
    assert cap.cpus == pytest.approx(min(cap.cores, 0.5))
    assert cap.source.endswith("cpu.max")


def test_v2_no_limit_is_max(tmp_path):
    root, proc = v2_tree(tmp_path / "cg", {"/": "max 100000"})
    cap = capacity.detect(root, proc)
    assert cap.limit is None and cap.cpus == cap.cores


def test_v2_nested_cgroup_takes_the_tightest_of_it_and_its_parents(tmp_path):
    root, proc = v2_tree(
        tmp_path / "cg",
        {"/": "max 100000", "/kubepods": "400000 100000", "/kubepods/pod1/ctr": "150000 100000"},
        self_path="/kubepods/pod1/ctr",
    )
    assert capacity.cgroup_cpu_limit(root, proc)[0] == pytest.approx(1.5)


def test_v1_cfs_quota(tmp_path):
    root = v1_tree(tmp_path / "cg", quota="150000", period="100000")
    proc = tmp_path / "proc"
    proc.write_text("3:cpu,cpuacct:/docker/abc\n0::/\n")  # host path absent below the mount: the mount counts
    assert capacity.detect(root, proc).limit == pytest.approx(1.5)


def test_v1_unlimited_quota_and_missing_files(tmp_path):
    proc = tmp_path / "proc"
    proc.write_text("1:cpu:/\n")
    assert capacity.detect(v1_tree(tmp_path / "a", quota="-1"), proc).limit is None
    assert capacity.detect(tmp_path / "nothing-mounted", tmp_path / "no-proc-file").limit is None


def test_garbage_in_cgroup_files_means_no_limit(tmp_path):
    root, proc = v2_tree(tmp_path / "cg", {"/": "lots"})
    assert capacity.detect(root, proc).limit is None


@pytest.mark.parametrize(
    ("cpus", "workers"),
    [(0.5, 2), (1.0, 2), (2.0, 2), (2.5, 3), (4.0, 4), (64.0, capacity.MAX_WORKERS)],
)
def test_defaults_follow_the_usable_cpus(cpus, workers):
    d = capacity.defaults_for(cpus)
    assert (d.workers, d.threads, d.ort_threads) == (workers, 1, 1)


def test_defaults_refuse_nonsense():
    with pytest.raises(ValueError, match="usable CPUs"):
        capacity.defaults_for(0)


@pytest.mark.parametrize(
    ("cores", "limit", "expected"),
    [(16, 0.5, (2, 1, 1, "sync")), (6, None, (6, 1, 1, "sync")), (2, None, (2, 1, 1, "sync"))],
)
def test_gunicorn_conf_uses_the_derivation(monkeypatch, tmp_path, cores, limit, expected):
    """The config file's defaults come from the detected capacity (a 500m pod on a 16-core node: 2 workers)."""
    import runpy

    for name in ("GG_WORKERS", "GG_THREADS", "GG_ORT_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "m"))
    monkeypatch.setattr(capacity, "detect", lambda: capacity.Capacity(cores=cores, limit=limit, source="fake"))
    conf = runpy.run_path(str(Path(capacity.__file__).with_name("gunicorn.conf.py")))
    assert (conf["workers"], conf["threads"], conf["ort_threads"], conf["worker_class"]) == expected
