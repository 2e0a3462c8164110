# Existing resources at the site that this configuration uses but does not own.

data "openstack_networking_network_v2" "sharednet1" {
  name = "sharednet1"
}

data "openstack_networking_subnet_v2" "sharednet1_subnet" {
  name = "sharednet1-subnet"
}

data "openstack_images_image_v2" "ubuntu" {
  name        = "CC-Ubuntu24.04"
  most_recent = true
}

# The security groups are created once per project (x_setup_sg in the lab);
# every node's sharednet1 port gets all of them.
locals {
  security_group_names = [
    "allow-ssh",
    "allow-9001",
    "allow-8000",
    "allow-8080",
    "allow-8081",
    "allow-8082",
    "allow-http-80",
    "allow-9090",
  ]
}

data "openstack_networking_secgroup_v2" "allowed" {
  for_each = toset(local.security_group_names)
  name     = each.key
}
