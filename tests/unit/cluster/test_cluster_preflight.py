"""`invoke preflight`: each check's pass and fail against recorded `openstack`/`ssh` outputs.

The openstack CLI and ssh are faked by a Probe that answers from the recorded
JSON in fixtures/openstack/; ssh-keygen runs for real on keys made here.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from invoke import Context, Exit

from gourmetgram.cluster import preflight as pf
from gourmetgram.tasks import cluster as tasks

FIXTURES = Path(__file__).parent / "fixtures" / "openstack"
RESERVATION = "4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5f"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeProbe(pf.Probe):
    """Answers commands whose rendered line contains a key; anything else runs for real (ssh-keygen)."""

    def __init__(self, answers: dict[str, pf.Outcome]):
        super().__init__(dry_run=False, echo=lambda line: None)
        self.answers = answers
        self.ran: list[str] = []

    def run(self, step):
        line = step.render()
        self.ran.append(line)
        for key, outcome in self.answers.items():
            if key in line:
                return outcome
        if step.argv[0] in ("openstack", "ssh", "ssh-add"):
            raise AssertionError(f"unexpected command: {line}")
        return super().run(step)


def ok(stdout: str) -> pf.Outcome:
    return pf.Outcome(0, stdout)


@pytest.fixture
def keys(tmp_path) -> dict[str, Path]:
    out = {}
    for name in ("mine", "other"):
        path = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
        out[name] = path
    return out


@pytest.fixture
def good(settings, keys, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  openstack:\n    auth:\n      auth_url: https://kvm.tacc.chameleoncloud.org:5000\n"
        "      application_credential_id: 0123abcd\n      application_credential_secret: s3cr3t\n"
        "    region_name: KVM@TACC\n    auth_type: v3applicationcredential\n"
    )
    return replace(settings, ssh_key=str(keys["mine"]), clouds_yaml=str(clouds))


def pub(path: Path) -> str:
    return Path(f"{path}.pub").read_text()


# ---- settings and clouds.yaml ------------------------------------------------------------------


def test_settings_pass_and_fail(good):
    assert pf.check_settings(good, pf.CLOUD_SETTINGS).ok
    bad = pf.check_settings(replace(good, reservation="not-a-uuid", suffix=None), pf.CLOUD_SETTINGS)
    assert bad.ok is False and "GG_SUFFIX" in bad.detail and "bad GG_RESERVATION" in bad.detail
    assert "FAILED  settings:" in bad.line() and "settings.env" in bad.line()
    nokey = pf.check_settings(replace(good, ssh_key="/nonexistent/key"), pf.NODE_SETTINGS)
    assert nokey.ok is False and "no such file" in nokey.detail


def test_clouds_yaml_pass_and_fail(good, tmp_path):
    result = pf.check_clouds_yaml(good)
    assert result.ok and "kvm.tacc.chameleoncloud.org" in result.detail
    path = Path(good.clouds_yaml)
    cases = {
        "clouds:\n  openstack: [\n": "is not YAML line",
        "clouds:\n  chameleon:\n    auth: {auth_url: https://x}\n": "names no cloud 'openstack' (found: chameleon)",
        "clouds:\n  openstack:\n    auth:\n      auth_url: https://x\n"
        '      application_credential_id: "<application credential id>"\n'
        "      application_credential_secret: s\n": "application_credential_id still the placeholder",
        "clouds:\n  openstack:\n    auth: {}\n": "no auth.auth_url",
    }
    for text, expected in cases.items():
        path.write_text(text)
        result = pf.check_clouds_yaml(good)
        assert result.ok is False and expected in result.detail, (text, result)
    missing = pf.check_clouds_yaml(replace(good, clouds_yaml=str(tmp_path / "none.yaml")))
    assert missing.ok is False and "not found" in missing.detail and "Application Credentials" in missing.fix


# ---- key pair and agent --------------------------------------------------------------------------


def test_keypair_pass(good, keys):
    probe = FakeProbe({"keypair show id_rsa_chameleon -f json": ok(fixture("keypair_show.json")),
                       "--public-key": ok(pub(keys["mine"]))})  # fmt: skip
    result = pf.check_keypair(good, probe)
    assert result.ok, result.line()
    assert "fingerprint 3c:8e:21" in result.detail


def test_keypair_missing_or_not_matching_fails(good, keys):
    missing = FakeProbe({"keypair": pf.Outcome(1, "", "No Keypair found for id_rsa_chameleon\n")})
    result = pf.check_keypair(good, missing)
    assert result.ok is False and "No Keypair found" in result.detail and "Key Pairs" in result.fix
    other = FakeProbe({"-f json": ok(fixture("keypair_show.json")), "--public-key": ok(pub(keys["other"]))})
    result = pf.check_keypair(good, other)
    assert result.ok is False and "is not the private key of key pair id_rsa_chameleon" in result.detail


def test_agent_pass_and_fail(good, keys):
    loaded = FakeProbe({"ssh-add -L": ok(pub(keys["other"]) + pub(keys["mine"]))})
    assert pf.check_agent(good, loaded).ok
    not_loaded = pf.check_agent(good, FakeProbe({"ssh-add -L": ok(pub(keys["other"]))}))
    assert not_loaded.ok is False and "not loaded" in not_loaded.detail and "ssh-add " in not_loaded.fix
    empty = pf.check_agent(good, FakeProbe({"ssh-add -L": pf.Outcome(1, "The agent has no identities.\n")}))
    assert empty.ok is False
    none = FakeProbe({"ssh-add -L": pf.Outcome(2, "", "Could not open a connection to your authentication agent.\n")})
    result = pf.check_agent(good, none)
    assert result.ok is False and result.detail == "no agent running" and "ssh-agent -s" in result.fix


# ---- lease and security groups -------------------------------------------------------------------


def _lease(**changes) -> str:
    doc = json.loads(fixture("lease_show.json"))
    reservation = json.loads(doc["reservations"])
    reservation.update(changes.pop("reservation", {}))
    doc["reservations"] = json.dumps(reservation, indent=4)
    doc.update(changes)
    return json.dumps(doc)


def test_lease_pass(good):
    result = pf.check_lease(good, FakeProbe({"lease show lease_mlops_abc123": ok(fixture("lease_show.json"))}))
    assert result.ok, result.line()
    assert f"3 instances of flavor {RESERVATION}" in result.detail


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_lease(status="PENDING"), "status PENDING (starts 2026-12-03T07:00:00.000000)"),
        (_lease(status="TERMINATED"), "status TERMINATED"),
        (_lease(reservation={"flavor_id": "99999999-8b3e-4c5d-9e7f-0a1b2c3d4e5f"}), "no flavor reservation"),
        (_lease(reservation={"amount": 2}), "reserves 2 instance(s), the lab needs 3"),
        (_lease(degraded=True), "degraded"),
    ],
)
def test_lease_fails(good, answer, expected):
    result = pf.check_lease(good, FakeProbe({"lease show": ok(answer)}))
    assert result.ok is False and expected in result.detail, result.line()


def test_lease_not_found(good):
    probe = FakeProbe({"lease show": pf.Outcome(1, "", "ERROR: Object with name 'lease_mlops_abc123' not found\n")})
    result = pf.check_lease(good, probe)
    assert result.ok is False and "not found" in result.detail and result.fix == "create it: invoke lease"


def test_reservations_in_both_client_shapes():
    two = "\n".join(json.dumps({"id": str(i), "amount": i}, indent=4) for i in (1, 2))
    assert [r["amount"] for r in pf.parse_reservations(two)] == [1, 2]
    assert pf.parse_reservations([{"amount": 3}]) == [{"amount": 3}]
    assert pf.parse_reservations("") == []


def test_security_groups_pass_and_fail(good):
    assert pf.required_security_groups()[:2] == ["allow-ssh", "allow-9001"]  # read from tf/kvm/data.tf
    probe = FakeProbe({"security group list": ok(fixture("security_group_list.json"))})
    assert pf.check_security_groups(good, probe).ok
    fewer = [
        g for g in json.loads(fixture("security_group_list.json")) if g["Name"] not in ("allow-8081", "allow-9090")
    ]
    result = pf.check_security_groups(good, FakeProbe({"security group list": ok(json.dumps(fewer))}))
    assert result.ok is False and result.detail == "missing in the project: allow-8081, allow-9090"
    assert "openstack security group create allow-8081" in result.fix


# ---- node checks against recorded ssh answers ----------------------------------------------------

ACCESS = pf.NodeAccess(floating_ip="203.0.113.10", ssh_key="/k")


def _facts(mem_gib=7.7, disk_gb=35.0, python=(3, 12, 3)) -> str:
    return json.dumps(
        {"hostname": "node1-mlops-abc123", "python": list(python), "mem_kib": int(mem_gib * 2**20),
         "disk_free": int(disk_gb * 1e9), "cpus": 4}
    ) + "\n"  # fmt: skip


def test_ssh_through_the_jump_host():
    assert pf.check_ssh(ACCESS, FakeProbe({"cc@203.0.113.10 true": ok("")}), "node1").ok
    probe = FakeProbe({"cc@192.168.1.12 true": pf.Outcome(255, "", "ssh: connect to host 192.168.1.12: timed out\n")})
    result = pf.check_ssh(ACCESS, probe, "node2")
    assert result.ok is False and "timed out" in result.detail and "private network" in result.fix
    assert "ProxyCommand=ssh -W %h:%p" in probe.ran[0] and "cc@203.0.113.10" in probe.ran[0]


def test_resources_pass_and_fail():
    result = pf.check_resources(ACCESS, FakeProbe({"python3 -": ok(_facts())}), "node1")
    assert result.ok and "7.7 GiB memory, 35 GB free on /, python 3.12.3, 4 CPUs" == result.detail
    small = pf.check_resources(ACCESS, FakeProbe({"python3 -": ok(_facts(mem_gib=3.8, disk_gb=9))}), "node2")
    assert small.ok is False and "memory 3.8 GiB < 7.0" in small.detail and "free disk 9 GB < 20" in small.detail
    old = pf.check_resources(ACCESS, FakeProbe({"python3 -": ok(_facts(python=(3, 6, 9)))}), "node3")
    assert old.ok is False and "python (3, 6)" in old.detail
    nopy = FakeProbe({"python3 -": pf.Outcome(127, "", "bash: line 1: python3: command not found\n")})
    assert pf.check_resources(ACCESS, nopy, "node1").detail == "no python3 on the node"


def test_downloads_pass_and_fail():
    sha = "a" * 64
    pinned = pf.Download("argo_events", "https://example.org/v1/install.yaml", sha256=sha)
    assert pf.check_download(ACCESS, FakeProbe({"install.yaml": ok(f"{sha} 1234\n")}), pinned).ok
    changed = pf.check_download(ACCESS, FakeProbe({"install.yaml": ok(f"{'b' * 64} 1234\n")}), pinned)
    assert changed.ok is False and "differs from the pinned sha256" in changed.detail
    gone = FakeProbe({"install.yaml": pf.Outcome(1, "", "urllib.error.HTTPError: HTTP Error 404: Not Found\n")})
    result = pf.check_download(ACCESS, gone, pinned)
    assert result.ok is False and "404" in result.detail
    unpinned = pf.check_download(ACCESS, FakeProbe({"install.yaml": ok(f"{sha} 1234\n")}), replace(pinned, sha256=""))
    assert unpinned.ok is False and "no sha256 pinned" in unpinned.detail and "versions.yml" in unpinned.fix
    # A publisher's checksum file instead of a pin.
    by_file = pf.Download(
        "argocd_cli", "https://example.org/v2/argocd-linux-amd64", sha256_url="https://example.org/v2/sums"
    )
    sums = f"{'c' * 64}  argocd-darwin-amd64\n{sha}  argocd-linux-amd64\n"
    probe = FakeProbe({"argocd-linux-amd64 120": ok(f"{sha} 99\n"), "v2/sums": ok(sums)})
    assert pf.check_download(ACCESS, probe, by_file).ok
    probe = FakeProbe({"argocd-linux-amd64 120": ok(f"{'c' * 64} 99\n"), "v2/sums": ok(sums)})
    assert pf.check_download(ACCESS, probe, by_file).ok is False


def test_pinned_downloads_come_from_versions_yml():
    downloads = {d.name: d for d in pf.pinned_downloads()}
    assert "argocd_cli" in downloads
    assert "{{" not in downloads["argocd_cli"].url and "/v" in downloads["argocd_cli"].url
    for d in downloads.values():
        assert d.url.startswith("https://"), d


# ---- the task: one line per check, exit 1 on any FAILED ------------------------------------------


def test_preflight_task_stops_on_a_failure(monkeypatch, capsys, good, keys):
    monkeypatch.setattr(tasks, "_settings", lambda *names: good)
    answers = {
        "keypair show id_rsa_chameleon -f json": ok(fixture("keypair_show.json")),
        "--public-key": ok(pub(keys["mine"])),
        "ssh-add -L": ok(pub(keys["mine"])),
        "lease show": ok(_lease(status="PENDING")),
        "security group list": ok(fixture("security_group_list.json")),
    }
    monkeypatch.setattr(tasks.pf, "Probe", lambda dry_run, echo: FakeProbe(answers))
    with pytest.raises(Exit, match="preflight FAILED") as exc:
        tasks.preflight(Context(), stage="cloud")
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "  ok      settings:" in out and "  ok      clouds.yaml:" in out and "  ok      ssh-agent:" in out
    assert "  FAILED  lease lease_mlops_abc123: status PENDING" in out
    assert "preflight: 5 ok, 1 FAILED" in out
    # The same checks start `invoke provision`, which then never reaches terraform.
    monkeypatch.setattr(tasks.Runner, "run", lambda self, step: pytest.fail(f"ran {step.render()}"))
    with pytest.raises(Exit, match="--no-preflight"):
        tasks.provision(Context())
    answers["lease show"] = ok(fixture("lease_show.json"))
    tasks.preflight(Context(), stage="cloud")
    assert "preflight: 6 ok, 0 FAILED" in capsys.readouterr().out


def test_preflight_rejects_an_unknown_stage():
    with pytest.raises(Exit, match="unknown stage 'later'"):
        tasks.preflight(Context(), stage="later")


def test_a_key_with_a_passphrase_is_compared_through_its_pub_file(good, tmp_path):
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret", "-C", "locked", "-f", str(key)], check=True)
    locked = replace(good, ssh_key=str(key))
    probe = FakeProbe({"-f json": ok(fixture("keypair_show.json")), "--public-key": ok(pub(key))})
    assert pf.check_keypair(locked, probe).ok
    Path(f"{key}.pub").unlink()
    result = pf.check_keypair(locked, FakeProbe({"-f json": ok(fixture("keypair_show.json")), "--public-key": ok("")}))
    assert result.ok is False and "cannot read the public half" in result.detail


def test_userns_restriction_zero_or_absent_passes_one_is_noted():
    key = "apparmor_restrict_unprivileged_userns"
    ubuntu_done = pf.check_userns(ACCESS, FakeProbe({key: ok("0\n")}), "node1")
    assert ubuntu_done.ok is True and "restriction 0" in ubuntu_done.detail
    debian = pf.check_userns(ACCESS, FakeProbe({key: ok("absent\n")}), "node2")
    assert debian.ok is True and "no AppArmor restriction" in debian.detail
    # Ubuntu 24.04's default before pre_k8s: noted (not FAILED, `invoke k8s` fixes it), never called ok.
    fresh = pf.check_userns(ACCESS, FakeProbe({key: ok("1\n")}), "node3")
    assert fresh.ok is None and "pre_k8s" in fresh.detail and "image builds fail" in fresh.detail
    odd = pf.check_userns(ACCESS, FakeProbe({key: ok("2\n")}), "node1")
    assert odd.ok is False and "99-gourmetgram-userns.conf" in odd.fix
    down = pf.check_userns(ACCESS, FakeProbe({key: pf.Outcome(255, "", "ssh: timed out\n")}), "node1")
    assert down.ok is False


def test_node_checks_include_the_userns_check_on_every_node():
    probe = FakeProbe({"true": ok(""), "apparmor_restrict_unprivileged_userns": ok("1\n"), "python3 -": ok(_facts())})
    results = [check() for check in pf.node_checks(ACCESS, probe, downloads=[])]
    userns = [r for r in results if r.name.endswith("user namespaces")]
    assert [r.name.split()[0] for r in userns] == list(ACCESS.nodes)
    assert all(r.ok is None for r in userns)
    assert any("cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns" in line for line in probe.ran)
