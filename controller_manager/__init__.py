"""kube-controller-manager: level-triggered reconcile loops for ReplicaSets, Deployments, Endpoints, namespaces, nodes."""
