"""The cluster path (the lab on Chameleon): settings, the commands of every lab
step (cloud, playbooks, argo, ssh), a dry-run-capable runner, and Terraform output -> Ansible inventory."""
