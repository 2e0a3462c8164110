"""GourmetGram MLOps: the lifecycle steps shared by the cluster and the local platform."""
