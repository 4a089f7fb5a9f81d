"""kube-proxy's Prometheus metrics, under upstream's names (pkg/proxy/metrics), in the process's default registry."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Upstream's buckets: 1 ms doubling 15 times for syncs; 0.25 s … 5 min for network programming.
_SYNC_BUCKETS = tuple(0.001 * 2 ** i for i in range(15))
_PROGRAMMING_BUCKETS = (0.25, 0.5, *range(1, 60), *range(60, 120, 5), *range(300, 420, 10))

SYNC_DURATION = Histogram("kubeproxy_sync_proxy_rules_duration_seconds",
                          "SyncProxyRules latency in seconds", buckets=_SYNC_BUCKETS)
FULL_SYNC_DURATION = Histogram("kubeproxy_sync_full_proxy_rules_duration_seconds",
                               "SyncProxyRules latency in seconds for full resyncs", buckets=_SYNC_BUCKETS)
LAST_SYNC_TIMESTAMP = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                            "The last time proxy rules were successfully synced")
LAST_QUEUED_TIMESTAMP = Gauge("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                              "The last time a sync of proxy rules was queued")
NETWORK_PROGRAMMING = Histogram("kubeproxy_network_programming_duration_seconds",
                                "In Cluster Network Programming Latency in seconds",
                                buckets=tuple(float(b) for b in _PROGRAMMING_BUCKETS))
RESTORE_FAILURES = Counter("kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
                           "Cumulative proxy iptables restore failures")
RULES_TOTAL = Gauge("kubeproxy_sync_proxy_rules_iptables_total",
                    "Total number of iptables rules owned by kube-proxy", ["table"])
SERVICE_CHANGES = Counter("kubeproxy_sync_proxy_rules_service_changes_total",
                          "Cumulative proxy rules Service changes")
ENDPOINT_CHANGES = Counter("kubeproxy_sync_proxy_rules_endpoint_changes_total",
                           "Cumulative proxy rules Endpoint changes")
