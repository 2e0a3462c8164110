# Three nodes on a private network (Kubernetes traffic) plus sharednet1
# (Internet-facing), and one floating IP on node1, the jump host.

resource "openstack_networking_network_v2" "private_net" {
  name                  = "private-net-mlops-${var.suffix}"
  port_security_enabled = false
}

resource "openstack_networking_subnet_v2" "private_subnet" {
  name       = "private-subnet-mlops-${var.suffix}"
  network_id = openstack_networking_network_v2.private_net.id
  cidr       = "192.168.1.0/24"
  no_gateway = true
}

resource "openstack_networking_port_v2" "private_net_ports" {
  for_each              = var.nodes
  name                  = "port-${each.key}-mlops-${var.suffix}"
  network_id            = openstack_networking_network_v2.private_net.id
  port_security_enabled = false

  fixed_ip {
    subnet_id  = openstack_networking_subnet_v2.private_subnet.id
    ip_address = each.value
  }
}

resource "openstack_networking_port_v2" "sharednet1_ports" {
  for_each           = var.nodes
  name               = "sharednet1-${each.key}-mlops-${var.suffix}"
  network_id         = data.openstack_networking_network_v2.sharednet1.id
  security_group_ids = [for sg in data.openstack_networking_secgroup_v2.allowed : sg.id]
}

resource "openstack_compute_instance_v2" "nodes" {
  for_each  = var.nodes
  name      = "${each.key}-mlops-${var.suffix}"
  image_id  = data.openstack_images_image_v2.ubuntu.id
  flavor_id = var.reservation
  key_pair  = var.key

  # sharednet1 first: it becomes ens3 (Internet-facing), the private port ens4.
  network {
    port = openstack_networking_port_v2.sharednet1_ports[each.key].id
  }

  network {
    port = openstack_networking_port_v2.private_net_ports[each.key].id
  }

  # Name resolution of the node itself, and the project's public keys (so the
  # whole team can log in), as the lab's nodes do.
  user_data = <<-EOT
    #!/bin/bash
    set -eu
    echo "127.0.1.1 ${each.key}-mlops-${var.suffix}" >> /etc/hosts
    su cc -c /usr/local/bin/cc-load-public-keys
  EOT

  # image_id forces a new instance, and the data source follows the site's newest
  # CC-Ubuntu24.04: without this, a re-published image would make every apply (and
  # `-replace` of one node) plan to rebuild all three. A node created or -replace'd
  # later gets the image current at that time.
  lifecycle {
    ignore_changes = [image_id]
  }
}

resource "openstack_networking_floatingip_v2" "floating_ip" {
  pool        = "public"
  description = "MLOps IP for ${var.suffix}"
  port_id     = openstack_networking_port_v2.sharednet1_ports["node1"].id
}
