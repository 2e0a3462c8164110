output "floating_ip_out" {
  description = "Floating IP of node1: the jump host for SSH/Ansible and the address of every service"
  value       = openstack_networking_floatingip_v2.floating_ip.address
}
