"""Pure parts of the lab nodes: PLAY RECAP parsing, the apt mirror, the image cache key."""

from __future__ import annotations

import pytest

from gourmetgram.nodes import image
from gourmetgram.nodes.playbooks import HostRecap, PlaybookRun, parse_recap

RECAP = """
TASK [Show hostname output] ****************************************************
ok: [node1] => msg: The hostname of node1 is node1

PLAY RECAP *********************************************************************
node1                      : ok=4    changed=2    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
node2                      : ok=4    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
node3                      : ok=1    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0

"""


def test_recap_counts_per_host():
    recap = parse_recap(RECAP)
    assert set(recap) == {"node1", "node2", "node3"}
    assert recap["node1"] == HostRecap(ok=4, changed=2, unreachable=0, failed=0, skipped=1)
    assert recap["node3"].unreachable == 1


def test_run_is_ok_only_without_failures_or_unreachable_hosts():
    recap = parse_recap(RECAP)
    assert PlaybookRun("p.yml", 0, RECAP, recap).changed == 2
    assert not PlaybookRun("p.yml", 4, RECAP, recap).ok  # node3 unreachable
    healthy = {h: r for h, r in recap.items() if h != "node3"}
    assert PlaybookRun("p.yml", 0, RECAP, healthy).ok


def test_the_last_recap_counts():
    twice = RECAP.replace("changed=2", "changed=9") + RECAP
    assert parse_recap(twice)["node1"].changed == 2


def test_no_recap_is_an_error():
    with pytest.raises(ValueError, match="no PLAY RECAP"):
        parse_recap("ERROR! the playbook could not be found\n")


def test_apt_mirror_from_deb822_and_one_line_sources(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n")
    assert image.apt_mirror((deb822,)) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert image.apt_mirror((one_line,)) == "http://other.example/debian"


def test_cache_key_follows_mirror_and_packages(monkeypatch):
    key = image.cache_key("http://deb.debian.org/debian")
    assert key == image.cache_key("http://deb.debian.org/debian")
    assert key != image.cache_key("http://mirror.example/debian")
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "curl"))
    assert key != image.cache_key("http://deb.debian.org/debian")
