"""kubelab the product: the simulated multi-host lab (and, later, the `kubelab` command)."""
