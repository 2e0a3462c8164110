"""The controller install of the cluster path (`./lab setup --controller`): standard library only."""
