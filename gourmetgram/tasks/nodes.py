"""invoke nodes.up / nodes.down / nodes.status: the three lab nodes on this machine."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection

from gourmetgram.errors import GourmetGramError
from gourmetgram.tasks.boundary import task
from gourmetgram.tasks.requires import needs_full_install


def _lab():
    from gourmetgram.nodes.lab import LabNodes

    return LabNodes()


@task(prefix="nodes.", help={"playbooks": "apply the node-level lab playbooks once (default: yes)"})
def up(c, playbooks=True):
    """Start three Debian 12 systemd nodes (podman), SSH through node1; apply the node playbooks."""
    from gourmetgram.nodes.playbooks import apply_node_playbooks

    lab = _lab()
    rec = lab.up()  # tears down again by itself if it fails
    if playbooks:
        try:
            apply_node_playbooks(Path(rec.ansible_dir))
        except GourmetGramError as e:
            # The nodes stay up so the failure can be looked at.
            raise GourmetGramError(f"{e}\nthe nodes are still up; remove them with: invoke nodes.down") from None
    inv = f"{rec.ansible_dir}/inventory.yml"
    print(f"ansible files: {rec.ansible_dir} (state {lab.state_dir})")
    print(f"try: ANSIBLE_CONFIG={rec.ansible_dir}/ansible.cfg ansible -i {inv} all -m ping")
    print("remove with: invoke nodes.down")


@task(
    prefix="nodes.", help={"leftovers": "also remove test runs' nodes left by a killed test session (/var/tmp/ggn-*)"}
)
def down(c, leftovers=False):
    """Remove the lab nodes: containers, networks, podman storage and the state dir."""
    from gourmetgram.nodes.lab import LabNodes, leftover_runs

    labs = [_lab()] + ([LabNodes(d) for d in leftover_runs()] if leftovers else [])
    removed = 0
    for lab in labs:
        if lab.record() is not None or lab.state_dir.exists():
            lab.down()
            removed += 1
    if not removed:
        print("lab nodes: nothing to remove")


@task(prefix="nodes.")
def status(c):
    """Show the lab nodes, their private IPs and container state."""
    lab = _lab()
    rec = lab.record()
    if rec is None:
        print(f"lab nodes: not up (state dir {lab.state_dir})")
        return
    print(f"run {rec.run_id}: jump host (floating IP) {rec.floating_ip}, ansible files in {rec.ansible_dir}")
    for row in lab.status():
        print(f"  {row['node']:6} {row['private_ip']:15} {row['state']:10} {row['container']}")


def register(ns: Collection) -> None:
    """Add the `nodes` collection to the root collection."""
    nodes = Collection("nodes")
    nodes.__doc__ = "Three real lab nodes on this machine (podman + debootstrap)."
    for t in (up, down, status):
        nodes.add_task(needs_full_install(t, f"nodes.{t.name}"))
    ns.add_collection(nodes)
