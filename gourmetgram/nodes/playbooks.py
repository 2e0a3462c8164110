"""Run ansible-playbook against the lab nodes and read its PLAY RECAP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass(frozen=True)
class HostRecap:
    ok: int
    changed: int
    unreachable: int
    failed: int
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


def parse_recap(output: str) -> dict[str, HostRecap]:
    """Per-host counters from the PLAY RECAP block(s) of ansible-playbook output.

    ValueError when there is no recap (the run died before the end)."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        raise ValueError("no PLAY RECAP in ansible-playbook output")
    recap: dict[str, HostRecap] = {}
    for line in lines[starts[-1] + 1 :]:
        m = _RECAP_LINE.match(line.strip())
        if not m:
            if line.strip():
                continue
            if recap:
                break
            continue
        counts = dict(kv.split("=") for kv in m.group("counts").split())
        fields = {k: int(v) for k, v in counts.items() if k in HostRecap.__dataclass_fields__}
        recap[m.group("host")] = HostRecap(**fields)
    if not recap:
        raise ValueError("PLAY RECAP has no host lines")
    return recap


@dataclass(frozen=True)
class PlaybookRun:
    playbook: str
    returncode: int
    output: str
    recap: dict[str, HostRecap]

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.recap.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(r.failed == 0 and r.unreachable == 0 for r in self.recap.values())


def run_playbook(
    ansible_dir: Path,
    playbook: Path,
    extra_vars: dict[str, str] | None = None,
    tags: str | None = None,
    echo: bool = False,
) -> PlaybookRun:
    """ansible-playbook with the generated ansible.cfg + inventory in `ansible_dir`."""
    argv = ["ansible-playbook"]
    argv += ["-i", str(ansible_dir / "inventory.yml"), str(playbook)]
    for k, v in (extra_vars or {}).items():
        argv += ["-e", f"{k}={v}"]
    if tags:
        argv += ["--tags", tags]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ansible_dir / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    proc = subprocess.run(argv, cwd=ansible_dir, env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    if echo:
        print(output)
    try:
        recap = parse_recap(proc.stdout)
    except ValueError:
        recap = {}
    return PlaybookRun(str(playbook), proc.returncode, output, recap)
