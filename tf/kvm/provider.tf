# Credentials come from the cloud named "openstack" in clouds.yaml beside this
# file (an application credential downloaded from Horizon; never committed,
# see clouds.yaml.example). OS_* environment variables would override it:
# `invoke provision` unsets them.
provider "openstack" {
  cloud = "openstack"
}
