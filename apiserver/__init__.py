"""kube-apiserver: Kubernetes REST on etcd, with watches, discovery, OpenAPI and Table output."""
