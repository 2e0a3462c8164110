"""Lab nodes on one machine: three Debian 12 systemd containers under podman.

They stand in for the lab's three cloud VMs so the real playbooks run over SSH
(node2 and node3 only through node1, the "floating IP") and testinfra checks
them. image.py builds the root filesystem with debootstrap (cached), podman.py
keeps every podman file under the run's own state dir, lab.py brings the nodes
up and down, playbooks.py runs ansible-playbook and reads its PLAY RECAP.
"""
