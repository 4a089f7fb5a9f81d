"""kube-controller-manager: level-triggered controllers (arrives with the controller-manager issue)."""
