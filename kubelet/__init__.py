"""kubelet: runs this node's pods as Docker containers and reports their status."""
