"""Every kind kubelab serves, declared once.  Adding a kind: one line here plus its validation."""
from __future__ import annotations

from .registry import ResourceType, register

_POD_FIELDS = ("spec.nodeName", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
               "spec.restartPolicy", "status.phase", "status.podIP", "status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                 "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

# core/v1
NAMESPACES = register(ResourceType("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",),
                                   subresources=("status", "finalize"), field_selectors=("status.phase",),
                                   tracks_generation=False, returns_deleted_object=True))
NODES = register(ResourceType("", "v1", "Node", "nodes", namespaced=False, short_names=("no",),
                              subresources=("status",), field_selectors=("spec.unschedulable",),
                              tracks_generation=False))
PODS = register(ResourceType("", "v1", "Pod", "pods", namespaced=True, short_names=("po",), categories=("all",),
                             subresources=("status", "binding", "log", "exec", "eviction"),
                             field_selectors=_POD_FIELDS, returns_deleted_object=True))
SERVICES = register(ResourceType("", "v1", "Service", "services", namespaced=True, short_names=("svc",),
                                 categories=("all",), subresources=("status",), tracks_generation=False,
                                 allow_create_on_update=True, returns_deleted_object=True))
ENDPOINTS = register(ResourceType("", "v1", "Endpoints", "endpoints", namespaced=True, short_names=("ep",),
                                  tracks_generation=False, allow_create_on_update=True))
CONFIGMAPS = register(ResourceType("", "v1", "ConfigMap", "configmaps", namespaced=True, short_names=("cm",),
                                   tracks_generation=False))
SECRETS = register(ResourceType("", "v1", "Secret", "secrets", namespaced=True, field_selectors=("type",),
                                tracks_generation=False))
EVENTS = register(ResourceType("", "v1", "Event", "events", namespaced=True, short_names=("ev",),
                               field_selectors=_EVENT_FIELDS, tracks_generation=False,
                               allow_create_on_update=True))
REPLICATION_CONTROLLERS = register(ResourceType("", "v1", "ReplicationController", "replicationcontrollers",
                                                namespaced=True, short_names=("rc",), categories=("all",),
                                                subresources=("status", "scale")))
SERVICE_ACCOUNTS = register(ResourceType("", "v1", "ServiceAccount", "serviceaccounts", namespaced=True,
                                         short_names=("sa",), tracks_generation=False,
                                         allow_create_on_update=True, returns_deleted_object=True))

# apps/v1
DEPLOYMENTS = register(ResourceType("apps", "v1", "Deployment", "deployments", namespaced=True, short_names=("deploy",),
                                    categories=("all",), subresources=("status", "scale")))
REPLICASETS = register(ResourceType("apps", "v1", "ReplicaSet", "replicasets", namespaced=True, short_names=("rs",),
                                    categories=("all",), subresources=("status", "scale")))
DAEMONSETS = register(ResourceType("apps", "v1", "DaemonSet", "daemonsets", namespaced=True, short_names=("ds",),
                                   categories=("all",), subresources=("status",)))
STATEFULSETS = register(ResourceType("apps", "v1", "StatefulSet", "statefulsets", namespaced=True, short_names=("sts",),
                                     categories=("all",), subresources=("status", "scale")))

# batch/v1
JOBS = register(ResourceType("batch", "v1", "Job", "jobs", namespaced=True, categories=("all",),
                             subresources=("status",)))
CRONJOBS = register(ResourceType("batch", "v1", "CronJob", "cronjobs", namespaced=True, short_names=("cj",),
                                 categories=("all",), subresources=("status",)))

# autoscaling/v2
HORIZONTAL_POD_AUTOSCALERS = register(ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler",
                                                   "horizontalpodautoscalers", namespaced=True,
                                                   short_names=("hpa",), categories=("all",),
                                                   subresources=("status",)))

# coordination.k8s.io/v1
LEASES = register(ResourceType("coordination.k8s.io", "v1", "Lease", "leases", namespaced=True,
                               tracks_generation=False, allow_create_on_update=True))
