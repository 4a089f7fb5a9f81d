"""kube-proxy: Services as iptables rules, the pod network and cluster DNS (arrives with the networking issue)."""
