"""Server-side Table output (meta.k8s.io/v1 Table): the columns and cells `kubectl get` prints, per kind.

Mirrors upstream pkg/printers/internalversion/printers.go, computed straight from
wire-format dicts.  Like kube-apiserver, every row carries the wide (priority 1)
cells too; kubectl hides priority > 0 columns unless `-o wide`.  Objects may lack
any field (no status yet, no spec): missing values print as upstream prints the
Go zero value, and nothing here raises on odd input.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from common.api.registry import ResourceType

_UNKNOWN = "<unknown>"
_NONE = "<none>"
_UNSET = "<unset>"
_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)

# ---------------------------------------------------------------------------
# Column descriptions: upstream takes them from the types' SwaggerDoc().

_DOC_NAME = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
             "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
             "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_DOC_CREATED = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is "
                "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
                "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. "
                "Null for lists. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_DOC_CONTAINERS = "Names of each container in the template."
_DOC_IMAGES = "Images referenced by each container in the template."
_DOC_READY_PODS = "Number of the pod with ready state"
_DOC_LABEL_SELECTORS = ("More info: "
                        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors")
_DOC_RC = ("More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
           "#what-is-a-replicationcontroller")
_DOC_DS = "More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"


def _column(name: str, description: str, type_: str = "string", priority: int = 0, format_: str = "") -> dict:
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


_NAME = _column("Name", _DOC_NAME, format_="name")
_AGE = _column("Age", _DOC_CREATED)
_CONTAINERS = _column("Containers", _DOC_CONTAINERS, priority=1)
_IMAGES = _column("Images", _DOC_IMAGES, priority=1)

_POD_COLUMNS = (
    _NAME,
    _column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _column("Status", "The aggregate status of the containers in this pod."),
    _column("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                        "container in this pod has restarted."),
    _AGE,
    _column("IP", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
                  "allocated.", priority=1),
    _column("Node", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
                    "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
                    "this node becomes responsible for the lifecycle of this pod. This field should not be used to "
                    "express a desire for the pod to be scheduled on a specific node. "
                    "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename", priority=1),
    _column("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                              "cannot be scheduled right away as preemption victims receive their graceful termination "
                              "periods. This field does not guarantee that the pod will be scheduled on this node. "
                              "Scheduler may decide to place the pod elsewhere if other nodes become available sooner. "
                              "Scheduler may also decide to give the resources on this node to a higher priority pod "
                              "that is created after preemption. As a result, this field may be different than "
                              "PodSpec.nodeName when the pod is scheduled.", priority=1),
    _column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
                               "when all its containers are ready AND all conditions specified in the readiness gates "
                               "have status equal to \"True\" More info: "
                               "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", priority=1),
)
_NAMESPACE_COLUMNS = (_NAME, _column("Status", "The status of the namespace"), _AGE)
_NODE_COLUMNS = (
    _NAME,
    _column("Status", "The status of the node"),
    _column("Roles", "The roles of the node"),
    _AGE,
    _column("Version", "Kubelet Version reported by the node."),
    _column("Internal-IP", "List of addresses reachable to the node. Queried from cloud provider, if available. "
                           "More info: https://kubernetes.io/docs/reference/node/node-status/#addresses", priority=1),
    _column("External-IP", "List of addresses reachable to the node. Queried from cloud provider, if available. "
                           "More info: https://kubernetes.io/docs/reference/node/node-status/#addresses", priority=1),
    _column("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            priority=1),
    _column("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            priority=1),
    _column("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API "
                                 "(e.g. containerd://1.4.2).", priority=1),
)
_SERVICE_COLUMNS = (
    _NAME,
    _column("Type", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
                    "ExternalName, ClusterIP, NodePort, and LoadBalancer."),
    _column("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
    _column("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
                           "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
                           "responsible for ensuring that traffic arrives at a node with this IP.  A common example "
                           "is external load-balancers that are not part of the Kubernetes system."),
    _column("Port(s)", "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/"
                       "concepts/services-networking/service/#virtual-ips-and-service-proxies"),
    _AGE,
    _column("Selector", "Route service traffic to pods with label keys and values matching this selector. If empty "
                        "or not present, the service is assumed to have an external process managing its endpoints, "
                        "which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and "
                        "LoadBalancer. Ignored if type is ExternalName. More info: "
                        "https://kubernetes.io/docs/concepts/services-networking/service/", priority=1),
)
_ENDPOINTS_COLUMNS = (
    _NAME,
    _column("Endpoints", "The set of all endpoints is the union of all subsets. Addresses are placed into subsets "
                         "according to the IPs they share."),
    _AGE,
)
_CONFIGMAP_COLUMNS = (
    _NAME,
    _column("Data", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', "
                    "'_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field."),
    _AGE,
)
_SECRET_COLUMNS = (
    _NAME,
    _column("Type", "Used to facilitate programmatic handling of secret data. More info: "
                    "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    _column("Data", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or "
                    "'.'. The serialized form of the secret data is a base64 encoded string, representing the "
                    "arbitrary (possibly non-string) data value here. Described in "
                    "https://tools.ietf.org/html/rfc4648#section-4"),
    _AGE,
)
_EVENT_COLUMNS = (
    _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _column("Reason", "This should be a short, machine understandable string that gives the reason for the "
                      "transition into the object's current status."),
    _column("Object", "The object that this event is about."),
    _column("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                         "contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
            priority=1),
    _column("Source", "The component reporting this event. Should be a short machine understandable string.",
            priority=1),
    _column("Message", "A human-readable description of the status of this operation."),
    _column("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            priority=1),
    _column("Count", "The number of times this event has occurred.", priority=1),
    _column("Name", _DOC_NAME, priority=1, format_="name"),
)
_SERVICE_ACCOUNT_COLUMNS = (
    _NAME,
    _column("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this "
                       "ServiceAccount are allowed to use."),
    _AGE,
)
_DEPLOYMENT_COLUMNS = (
    _NAME,
    _column("Ready", _DOC_READY_PODS),
    _column("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired "
                          "template spec."),
    _column("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
                         "deployment."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _column("Selector", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                        "ones affected by this deployment.", priority=1),
)
_REPLICASET_COLUMNS = (
    _NAME,
    _column("Desired", "Replicas is the number of desired replicas. This is a pointer to distinguish between "
                       f"explicit zero and unspecified. Defaults to 1. {_DOC_RC}", type_="integer"),
    _column("Current", f"Replicas is the most recently oberved number of replicas. {_DOC_RC}", type_="integer"),
    _column("Ready", "The number of ready replicas for this replica set.", type_="integer"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _column("Selector", "Selector is a label query over pods that should match the replica count. If the selector "
                        "is empty, it is defaulted to the labels present on the pod template. Label keys and values "
                        "that must match in order to be controlled by this replica set. " + _DOC_LABEL_SELECTORS,
            priority=1),
)
_DOC_RC_LINK = ("More info: "
                "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller")
_REPLICATION_CONTROLLER_COLUMNS = (
    _NAME,
    _column("Desired", "Replicas is the number of desired replicas. This is a pointer to distinguish between "
                       f"explicit zero and unspecified. Defaults to 1. {_DOC_RC_LINK}", type_="integer"),
    _column("Current", f"Replicas is the most recently observed number of replicas. {_DOC_RC_LINK}",
            type_="integer"),
    _column("Ready", "The number of ready replicas for this replication controller.", type_="integer"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _column("Selector", "Selector is a label query over pods that should match the Replicas count. If Selector is "
                        "empty, it is defaulted to the labels present on the Pod template. Label keys and values "
                        "that must match in order to be controlled by this replication controller, if empty "
                        "defaulted to labels on Pod template. More info: "
                        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels#label-selectors",
            priority=1),
)
_DAEMONSET_COLUMNS = (
    _NAME,
    _column("Desired", "The total number of nodes that should be running the daemon pod (including nodes correctly "
                       f"running the daemon pod). {_DOC_DS}", type_="integer"),
    _column("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
                       f"daemon pod. {_DOC_DS}", type_="integer"),
    _column("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon "
                     "pod running and ready.", type_="integer"),
    _column("Up-to-date", "The total number of nodes that are running updated daemon pod", type_="integer"),
    _column("Available", "The number of nodes that should be running the daemon pod and have one or more of the "
                         "daemon pod running and available (ready for at least spec.minReadySeconds)",
            type_="integer"),
    _column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector "
                             "which must match a node's labels for the pod to be scheduled on that node. More info: "
                             "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _column("Selector", "A label query over pods that are managed by the daemon set. Must match in order to be "
                        "controlled. If empty, defaulted to labels on Pod template. " + _DOC_LABEL_SELECTORS,
            priority=1),
)
_STATEFULSET_COLUMNS = (_NAME, _column("Ready", _DOC_READY_PODS), _AGE, _CONTAINERS, _IMAGES)
_JOB_SELECTOR = _column("Selector", "A label query over pods that should match the pod count. Normally, the system "
                                    "sets this field for you. " + _DOC_LABEL_SELECTORS, priority=1)
_JOB_COLUMNS = (
    _NAME,
    _column("Status", "Status of the job."),
    _column("Completions", "The number of pods which reached phase Succeeded. The value increases monotonically for "
                           "a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs."),
    _column("Duration", "Time required to complete the job."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _JOB_SELECTOR,
)
_CRONJOB_COLUMNS = (
    _NAME,
    _column("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    _column("Timezone", "The time zone name for the given schedule, see "
                        "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will "
                        "default to the time zone of the kube-controller-manager process."),
    _column("Suspend", "This flag tells the controller to suspend subsequent executions, it does not apply to "
                       "already started executions.  Defaults to false.", type_="boolean"),
    _column("Active", "A list of pointers to currently running jobs.", type_="integer"),
    _column("Last Schedule", "Information when was the last time the job was successfully scheduled."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _JOB_SELECTOR,
)
_HPA_COLUMNS = (
    _NAME,
    _column("Reference", "scaleTargetRef points to the target resource to scale, and is used to the pods for which "
                         "metrics should be collected, as well as to actually change the replica count."),
    _column("Targets", "metrics contains the specifications for which to use to calculate the desired replica count "
                       "(the maximum replica count across all metrics will be used)."),
    _column("MinPods", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale "
                       "down.  It defaults to 1 pod."),
    _column("MaxPods", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale "
                       "up. It cannot be less that minReplicas."),
    _column("Replicas", "currentReplicas is current number of replicas of pods managed by this autoscaler, as last "
                        "seen by the autoscaler."),
    _AGE,
)
_LEASE_COLUMNS = (
    _NAME,
    _column("Holder", "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader "
                      "Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name "
                      "field."),
    _AGE,
)
# apiserver/pkg/registry/rest/table.go: kinds without a printer get name and an RFC3339 creation time.
_DEFAULT_COLUMNS = (_NAME, _column("Created At", _DOC_CREATED, type_="date"))

# ---------------------------------------------------------------------------
# Reading untrusted wire dicts without raising.


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _object(value: Any) -> dict | None:
    """A nested struct as Go sees a pointer: present (maybe empty) or nil."""
    return value if isinstance(value, dict) else None


def _dicts(value: Any) -> list[dict]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _name(obj: dict) -> str:
    return _str(_dict(obj.get("metadata")).get("name"))


# ---------------------------------------------------------------------------
# Time.


def parse_time(value: Any) -> datetime | None:
    """An RFC3339 timestamp as an aware datetime; None when missing, unparsable or Go's zero time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return None if parsed == _ZERO_TIME else parsed


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _truncating_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward zero, as Go's int() conversion does."""
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def human_duration(delta: timedelta) -> str:
    """apimachinery duration.HumanDuration: ~2-3 significant figures, e.g. 90s, 5m3s, 3h12m, 2d5h, 3y20d."""
    seconds = _truncating_div(delta // timedelta(microseconds=1), 1_000_000)
    # Up to 2s in the future is clock skew between machines: treat it as now.
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return _with_remainder(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _with_remainder(hours, "h", minutes % 60, "m")
    return _human_days(hours)


def _human_days(hours: int) -> str:
    """HumanDuration from 8 hours up: hours, then days(+hours), days, years(+days), years."""
    days = hours // 24
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _with_remainder(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _with_remainder(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _with_remainder(whole: int, unit: str, remainder: int, remainder_unit: str) -> str:
    return f"{whole}{unit}" if remainder == 0 else f"{whole}{unit}{remainder}{remainder_unit}"


def _since(value: Any, now: datetime) -> str:
    """upstream translateTimestampSince: '<unknown>' for a missing time."""
    moment = parse_time(value)
    return _UNKNOWN if moment is None else human_duration(_aware(now) - moment)


def age(obj: dict, now: datetime) -> str:
    """The AGE cell: time since metadata.creationTimestamp, '<unknown>' without one."""
    return _since(_dict(obj.get("metadata")).get("creationTimestamp"), now)


# ---------------------------------------------------------------------------
# Labels and selectors, formatted as apimachinery's labels package does.


def _format_labels(labels: Any) -> str:
    """labels.FormatLabels: sorted k=v pairs, '<none>' when empty."""
    pairs = [f"{key}={value}" for key, value in sorted(_dict(labels).items())]
    return ",".join(pairs) or _NONE


def _requirement(expression: dict) -> tuple[str, str] | None:
    """(key, text) of one matchExpressions entry; None when upstream would reject it."""
    key, operator = _str(expression.get("key")), expression.get("operator")
    values = _list(expression.get("values"))
    if not all(isinstance(value, str) for value in values):
        return None
    if operator in ("In", "NotIn") and values:
        joined = values[0] if len(values) == 1 else ",".join(sorted(values))
        return key, f"{key} {operator.lower()} ({joined})"
    if operator == "Exists" and not values:
        return key, key
    if operator == "DoesNotExist" and not values:
        return key, f"!{key}"
    return None


def _selector_string(selector: Any) -> str | None:
    """labels.Selector.String() of a LabelSelector (requirements sorted by key); None when it is invalid."""
    selector = _dict(selector)
    requirements: list[tuple[str, str]] = []
    for key, value in _dict(selector.get("matchLabels")).items():
        if not isinstance(value, str):
            return None
        requirements.append((key, f"{key}={value}"))
    for expression in _list(selector.get("matchExpressions")):
        requirement = _requirement(_dict(expression))
        if requirement is None:
            return None
        requirements.append(requirement)
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: '<error>' when invalid, '<none>' when it selects everything or nothing."""
    text = _selector_string(selector)
    if text is None:
        return "<error>"
    return text or _NONE


def _container_cells(pod_spec: Any) -> list[str]:
    """upstream layoutContainerCells: container names and images, comma-separated."""
    containers = _dicts(_dict(pod_spec).get("containers"))
    return [",".join(_str(c.get("name")) for c in containers), ",".join(_str(c.get("image")) for c in containers)]


def _first_condition_true(conditions: Any, condition_type: str) -> bool:
    """Whether the first condition of this type has status True (upstream hasJobCondition & co.)."""
    for condition in _dicts(conditions):
        if condition.get("type") == condition_type:
            return condition.get("status") == "True"
    return False


# ---------------------------------------------------------------------------
# Pod.


@dataclass
class _PodTally:
    """What printPod accumulates while walking container statuses."""
    reason: str
    ready: int = 0
    restarts: int = 0
    last_restart: datetime | None = None
    sidecar_restarts: int = 0
    sidecar_last_restart: datetime | None = None
    initializing: bool = False


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _last_finished(container_status: dict) -> datetime | None:
    terminated = _dict(_dict(container_status.get("lastState")).get("terminated"))
    return parse_time(terminated.get("finishedAt"))


def _is_sidecar(container: Any) -> bool:
    """A restartable init container (restartPolicy: Always) runs beside the app containers."""
    return _dict(container).get("restartPolicy") == "Always"


def _pod_base_reason(status: dict) -> str:
    reason = _str(status.get("reason")) or _str(status.get("phase"))
    for condition in _dicts(status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    return reason


def _terminated_reason(terminated: dict, prefix: str = "") -> str:
    """A terminated state's reason, or Signal:N / ExitCode:N when the runtime gave none."""
    if _str(terminated.get("reason")):
        return prefix + terminated["reason"]
    signal = _int(terminated.get("signal"))
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _init_reason(state: dict, index: int, init_count: int) -> str:
    terminated, waiting = _object(state.get("terminated")), _dict(state.get("waiting"))
    if terminated is not None:
        return _terminated_reason(terminated, "Init:")
    if _str(waiting.get("reason")) and waiting["reason"] != "PodInitializing":
        return "Init:" + waiting["reason"]
    return f"Init:{index}/{init_count}"


def _tally_init_containers(tally: _PodTally, spec: dict, status: dict) -> None:
    """Walk init containers in order until the first one that is still initializing (or failed)."""
    init_specs = _dicts(spec.get("initContainers"))
    by_name = {_str(container.get("name")): container for container in init_specs}
    for index, container_status in enumerate(_dicts(status.get("initContainerStatuses"))):
        sidecar = _is_sidecar(by_name.get(_str(container_status.get("name"))))
        restarts, finished = _int(container_status.get("restartCount")), _last_finished(container_status)
        tally.restarts += restarts
        tally.last_restart = _later(tally.last_restart, finished)
        if sidecar:
            tally.sidecar_restarts += restarts
            tally.sidecar_last_restart = _later(tally.sidecar_last_restart, finished)
        state = _dict(container_status.get("state"))
        terminated = _object(state.get("terminated"))
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and container_status.get("started") is True:
            tally.ready += int(container_status.get("ready") is True)
            continue
        tally.reason = _init_reason(state, index, len(init_specs))
        tally.initializing = True
        return


def _tally_app_containers(tally: _PodTally, status: dict) -> None:
    """App containers, last to first so the first container's reason wins; sidecars' restarts carry over."""
    tally.restarts, tally.last_restart = tally.sidecar_restarts, tally.sidecar_last_restart
    has_running = False
    for container_status in reversed(_dicts(status.get("containerStatuses"))):
        tally.restarts += _int(container_status.get("restartCount"))
        tally.last_restart = _later(tally.last_restart, _last_finished(container_status))
        state = _dict(container_status.get("state"))
        waiting, terminated = _dict(state.get("waiting")), _object(state.get("terminated"))
        if _str(waiting.get("reason")):
            tally.reason = waiting["reason"]
        elif terminated is not None:
            tally.reason = _terminated_reason(terminated)
        elif container_status.get("ready") is True and _object(state.get("running")) is not None:
            has_running = True
            tally.ready += 1
    # A finished container next to one still running: the pod is not Completed yet.
    if tally.reason == "Completed" and has_running:
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in _dicts(status.get("conditions")))
        tally.reason = "Running" if ready else "NotReady"


def _pod_reason_after_deletion(pod: dict, status: dict, reason: str) -> str:
    if _dict(pod.get("metadata")).get("deletionTimestamp") is None:
        return reason
    if status.get("reason") == "NodeLost":  # node.NodeUnreachablePodReason
        return "Unknown"
    if status.get("phase") not in ("Failed", "Succeeded"):
        return "Terminating"
    return reason


def _restarts_cell(tally: _PodTally, now: datetime) -> str:
    if tally.restarts != 0 and tally.last_restart is not None:
        return f"{tally.restarts} ({human_duration(_aware(now) - tally.last_restart)} ago)"
    return str(tally.restarts)


def _pod_ip(status: dict) -> str:
    # v1 -> internal conversion fills podIPs from a lone podIP; the printer reads podIPs[0].
    ips = _dicts(status.get("podIPs"))
    first = _str(ips[0].get("ip")) if ips else _str(status.get("podIP"))
    return first or _NONE


def _readiness_gates(spec: dict, status: dict) -> str:
    gates = _dicts(spec.get("readinessGates"))
    if not gates:
        return _NONE
    true_conditions = sum(_first_condition_true(status.get("conditions"), gate.get("conditionType")) for gate in gates)
    return f"{true_conditions}/{len(gates)}"


def _pod_cells(pod: dict, now: datetime) -> list:
    spec, status = _dict(pod.get("spec")), _dict(pod.get("status"))
    tally = _PodTally(reason=_pod_base_reason(status))
    _tally_init_containers(tally, spec, status)
    if not tally.initializing or _first_condition_true(status.get("conditions"), "Initialized"):
        _tally_app_containers(tally, status)
    total = len(_list(spec.get("containers"))) + sum(map(_is_sidecar, _dicts(spec.get("initContainers"))))
    return [_name(pod), f"{tally.ready}/{total}", _pod_reason_after_deletion(pod, status, tally.reason),
            _restarts_cell(tally, now), age(pod, now), _pod_ip(status), _str(spec.get("nodeName")) or _NONE,
            _str(status.get("nominatedNodeName")) or _NONE, _readiness_gates(spec, status)]


def _pod_row_conditions(pod: dict) -> list[dict]:
    """upstream marks finished pods' rows Completed."""
    phase = _dict(pod.get("status")).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


# ---------------------------------------------------------------------------
# Cluster and core kinds.


def _namespace_cells(namespace: dict, now: datetime) -> list:
    return [_name(namespace), _str(_dict(namespace.get("status")).get("phase")), age(namespace, now)]


def _node_status(node: dict) -> str:
    ready = next((c for c in _dicts(_dict(node.get("status")).get("conditions")) if c.get("type") == "Ready"), None)
    statuses = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if _dict(node.get("spec")).get("unschedulable") is True:
        statuses.append("SchedulingDisabled")
    return ",".join(statuses)


def _node_roles(node: dict) -> str:
    """Roles from node-role.kubernetes.io/<role> keys and the legacy kubernetes.io/role value."""
    roles = set()
    for key, value in _dict(_dict(node.get("metadata")).get("labels")).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and _str(value):
            roles.add(value)
    return ",".join(sorted(roles)) or _NONE


def _node_address(node: dict, address_type: str) -> str:
    for address in _dicts(_dict(node.get("status")).get("addresses")):
        if address.get("type") == address_type:
            return _str(address.get("address"))
    return _NONE


def _node_cells(node: dict, now: datetime) -> list:
    info = _dict(_dict(node.get("status")).get("nodeInfo"))
    return [_name(node), _node_status(node), _node_roles(node), age(node, now), _str(info.get("kubeletVersion")),
            _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            _str(info.get("osImage")) or _UNKNOWN, _str(info.get("kernelVersion")) or _UNKNOWN,
            _str(info.get("containerRuntimeVersion")) or _UNKNOWN]


def _load_balancer_ips(service: dict) -> str:
    """Ingress IPs (or hostnames), sorted and deduplicated; the wide form, as the server always prints."""
    ingress = _dicts(_dict(_dict(service.get("status")).get("loadBalancer")).get("ingress"))
    found = {_str(entry.get("ip")) or _str(entry.get("hostname")) for entry in ingress}
    return ",".join(sorted(found - {""}))


def _service_external_ip(service: dict) -> str:
    spec = _dict(service.get("spec"))
    external_ips = [ip for ip in _list(spec.get("externalIPs")) if isinstance(ip, str)]
    service_type = spec.get("type")
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or _NONE
    if service_type == "LoadBalancer":
        balancer_ips = _load_balancer_ips(service)
        return ",".join(([balancer_ips] if balancer_ips else []) + external_ips) or "<pending>"
    if service_type == "ExternalName":
        return _str(spec.get("externalName"))
    return _UNKNOWN


def _service_ports(spec: dict) -> str:
    pieces = []
    for port in _dicts(spec.get("ports")):
        node_port, protocol = _int(port.get("nodePort")), _str(port.get("protocol"))
        middle = f":{node_port}" if node_port > 0 else ""
        pieces.append(f"{_int(port.get('port'))}{middle}/{protocol}")
    return ",".join(pieces) or _NONE


def _service_cells(service: dict, now: datetime) -> list:
    spec = _dict(service.get("spec"))
    # v1 -> internal conversion fills clusterIPs from a lone clusterIP; the printer reads clusterIPs[0].
    cluster_ips = [ip for ip in _list(spec.get("clusterIPs")) if isinstance(ip, str)] or [_str(spec.get("clusterIP"))]
    return [_name(service), _str(spec.get("type")), cluster_ips[0] or _NONE, _service_external_ip(service),
            _service_ports(spec), age(service, now), _format_labels(spec.get("selector"))]


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _format_endpoints(endpoints: dict, shown_max: int = 3) -> str:
    """upstream formatEndpoints: the first three ip:port pairs, then '+ N more...'."""
    subsets = _dicts(endpoints.get("subsets"))
    if not subsets:
        return _NONE
    shown: list[str] = []
    count, more = 0, False
    for subset in subsets:
        ips = [_str(address.get("ip")) for address in _dicts(subset.get("addresses"))]
        # A headless service may have no ports: then list bare IPs.
        ports: list[int | None] = [_int(port.get("port")) for port in _dicts(subset.get("ports"))] or [None]
        for port in ports:
            count += len(ips)
            for ip in ips:
                if len(shown) == shown_max:
                    more = True
                    break
                shown.append(ip if port is None else _join_host_port(ip, port))
    text = ",".join(shown)
    return f"{text} + {count - shown_max} more..." if more else text


def _endpoints_cells(endpoints: dict, now: datetime) -> list:
    return [_name(endpoints), _format_endpoints(endpoints), age(endpoints, now)]


def _configmap_cells(configmap: dict, now: datetime) -> list:
    data_count = len(_dict(configmap.get("data"))) + len(_dict(configmap.get("binaryData")))
    return [_name(configmap), data_count, age(configmap, now)]


def _secret_cells(secret: dict, now: datetime) -> list:
    return [_name(secret), _str(secret.get("type")), len(_dict(secret.get("data"))), age(secret, now)]


def _service_account_cells(account: dict, now: datetime) -> list:
    return [_name(account), len(_list(account.get("secrets"))), age(account, now)]


def _lease_cells(lease: dict, now: datetime) -> list:
    return [_name(lease), _str(_dict(lease.get("spec")).get("holderIdentity")), age(lease, now)]


# ---------------------------------------------------------------------------
# Event.


def _event_source(event: dict) -> str:
    """upstream formatEventSource: component[, host], falling back to reportingComponent/Instance."""
    source = _dict(event.get("source"))
    component = _str(source.get("component")) or _str(event.get("reportingComponent"))
    host = _str(source.get("host")) or _str(event.get("reportingInstance"))
    return f"{component}, {host}" if host else component


def _event_times_and_count(event: dict, now: datetime) -> tuple[str, str, int]:
    """(last seen, first seen, count), preferring the events.k8s.io-style series when present."""
    first_seen = _since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp")) is None:
        first_seen = _since(event.get("eventTime"), now)
    last_seen = _since(event.get("lastTimestamp"), now)
    if parse_time(event.get("lastTimestamp")) is None:
        last_seen = first_seen
    series = _object(event.get("series"))
    if series is not None:
        return _since(series.get("lastObservedTime"), now), first_seen, _int(series.get("count"))
    # Singleton events don't have a count set in the new API.
    return last_seen, first_seen, _int(event.get("count")) or 1


def _event_cells(event: dict, now: datetime) -> list:
    involved = _dict(event.get("involvedObject"))
    kind, name = _str(involved.get("kind")).lower(), _str(involved.get("name"))
    last_seen, first_seen, count = _event_times_and_count(event, now)
    return [last_seen, _str(event.get("type")), _str(event.get("reason")), f"{kind}/{name}" if name else kind,
            _str(involved.get("fieldPath")), _event_source(event), _str(event.get("message")).strip(), first_seen,
            count, _name(event)]


# ---------------------------------------------------------------------------
# Workloads.


def _template_spec(obj: dict) -> dict:
    return _dict(_dict(_dict(obj.get("spec")).get("template")).get("spec"))


def _deployment_cells(deployment: dict, now: datetime) -> list:
    spec, status = _dict(deployment.get("spec")), _dict(deployment.get("status"))
    selector = _selector_string(spec.get("selector"))
    return [_name(deployment), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")), age(deployment, now),
            *_container_cells(_template_spec(deployment)), "<invalid>" if selector is None else selector]


def _replicaset_cells(replicaset: dict, now: datetime) -> list:
    spec, status = _dict(replicaset.get("spec")), _dict(replicaset.get("status"))
    return [_name(replicaset), _int(spec.get("replicas")), _int(status.get("replicas")),
            _int(status.get("readyReplicas")), age(replicaset, now), *_container_cells(_template_spec(replicaset)),
            _format_label_selector(spec.get("selector"))]


def _replication_controller_cells(rc: dict, now: datetime) -> list:
    """upstream printReplicationController: the selector is a plain label map (labels.FormatLabels)."""
    spec, status = _dict(rc.get("spec")), _dict(rc.get("status"))
    return [_name(rc), _int(spec.get("replicas")), _int(status.get("replicas")), _int(status.get("readyReplicas")),
            age(rc, now), *_container_cells(_template_spec(rc)), _format_labels(spec.get("selector"))]


def _daemonset_cells(daemonset: dict, now: datetime) -> list:
    status = _dict(daemonset.get("status"))
    counts = [_int(status.get(field)) for field in ("desiredNumberScheduled", "currentNumberScheduled",
                                                    "numberReady", "updatedNumberScheduled", "numberAvailable")]
    template_spec = _template_spec(daemonset)
    return [_name(daemonset), *counts, _format_labels(template_spec.get("nodeSelector")), age(daemonset, now),
            *_container_cells(template_spec), _format_label_selector(_dict(daemonset.get("spec")).get("selector"))]


def _statefulset_cells(statefulset: dict, now: datetime) -> list:
    spec, status = _dict(statefulset.get("spec")), _dict(statefulset.get("status"))
    return [_name(statefulset), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'))}",
            age(statefulset, now), *_container_cells(_template_spec(statefulset))]


def _job_completions(spec: dict, status: dict) -> str:
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        return f"{succeeded}/{_int(spec.get('completions'))}"
    parallelism = _int(spec.get("parallelism"))
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(status: dict, now: datetime) -> str:
    started = parse_time(status.get("startTime"))
    if started is None:
        return ""
    completed = parse_time(status.get("completionTime"))
    return human_duration((completed or _aware(now)) - started)


def _job_status(job: dict) -> str:
    conditions = _dict(job.get("status")).get("conditions")
    if _first_condition_true(conditions, "Complete"):
        return "Complete"
    if _first_condition_true(conditions, "Failed"):
        return "Failed"
    if _dict(job.get("metadata")).get("deletionTimestamp") is not None:
        return "Terminating"
    if _first_condition_true(conditions, "Suspended"):
        return "Suspended"
    if _first_condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(job: dict, now: datetime) -> list:
    spec, status = _dict(job.get("spec")), _dict(job.get("status"))
    return [_name(job), _job_status(job), _job_completions(spec, status), _job_duration(status, now), age(job, now),
            *_container_cells(_template_spec(job)), _format_label_selector(spec.get("selector"))]


def _bool_pointer(value: Any) -> str:
    """upstream printBoolPtr."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return _UNSET


def _cronjob_cells(cronjob: dict, now: datetime) -> list:
    spec, status = _dict(cronjob.get("spec")), _dict(cronjob.get("status"))
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    last_schedule = _NONE if status.get("lastScheduleTime") is None else _since(status["lastScheduleTime"], now)
    time_zone = spec.get("timeZone")
    return [_name(cronjob), _str(spec.get("schedule")), time_zone if isinstance(time_zone, str) else _NONE,
            _bool_pointer(spec.get("suspend")), len(_list(status.get("active"))), last_schedule, age(cronjob, now),
            *_container_cells(_template_spec({"spec": job_spec})),
            _format_label_selector(job_spec.get("selector"))]


# ---------------------------------------------------------------------------
# HorizontalPodAutoscaler.


def _quantity(value: Any) -> str:
    """A resource.Quantity as printed; a nil one prints '<nil>' in Go."""
    if value is None:
        return "<nil>"
    return value if isinstance(value, str) else str(value)


def _percent(value: Any) -> str | None:
    return f"{value}%" if isinstance(value, int) and not isinstance(value, bool) else None


def _value_metric(target: dict, current: dict | None) -> str:
    """Object and External metrics: average value when targeted, else the total value."""
    if target.get("averageValue") is not None:
        now_value = _UNKNOWN if current is None or current.get("averageValue") is None \
            else _quantity(current["averageValue"])
        return f"{now_value}/{_quantity(target['averageValue'])} (avg)"
    now_value = _UNKNOWN if current is None else _quantity(current.get("value"))
    return f"{now_value}/{_quantity(target.get('value'))}"


def _resource_metric(source: dict, current: dict | None) -> str:
    """Resource and ContainerResource metrics: name: current/target (value or utilization %)."""
    name, target = _str(source.get("name")), _dict(source.get("target"))
    if target.get("averageValue") is not None:
        now_value = _UNKNOWN if current is None else _quantity(current.get("averageValue"))
        return f"{name}: {now_value}/{_quantity(target['averageValue'])}"
    now_percent = None if current is None else _percent(current.get("averageUtilization"))
    return f"{name}: {now_percent or _UNKNOWN}/{_percent(target.get('averageUtilization')) or '<auto>'}"


_METRIC_FIELDS = {"External": "external", "Pods": "pods", "Object": "object", "Resource": "resource",
                  "ContainerResource": "containerResource"}


def _format_metric(spec: dict, status: dict | None) -> str:
    field = _METRIC_FIELDS.get(spec.get("type"))
    if field is None:
        return "<unknown type>"
    source = _dict(spec.get(field))
    status_source = _object(_dict(status).get(field))
    current = None if status_source is None else _dict(status_source.get("current"))
    if field in ("resource", "containerResource"):
        return _resource_metric(source, current)
    if field == "pods":
        now_value = _UNKNOWN if current is None else _quantity(current.get("averageValue"))
        return f"{now_value}/{_quantity(_dict(source.get('target')).get('averageValue'))}"
    return _value_metric(_dict(source.get("target")), current)


def _format_hpa_metrics(hpa: dict, shown_max: int = 2) -> str:
    specs = _dicts(_dict(hpa.get("spec")).get("metrics"))
    if not specs:
        return _NONE
    statuses = _list(_dict(hpa.get("status")).get("currentMetrics"))
    texts = [_format_metric(spec, _object(statuses[i]) if i < len(statuses) else None) for i, spec in enumerate(specs)]
    if len(texts) > shown_max:
        return f"{', '.join(texts[:shown_max])} + {len(texts) - shown_max} more..."
    return ", ".join(texts)


def _hpa_cells(hpa: dict, now: datetime) -> list:
    spec, status = _dict(hpa.get("spec")), _dict(hpa.get("status"))
    target = _dict(spec.get("scaleTargetRef"))
    min_replicas = spec.get("minReplicas")
    return [_name(hpa), f"{_str(target.get('kind'))}/{_str(target.get('name'))}", _format_hpa_metrics(hpa),
            str(min_replicas) if isinstance(min_replicas, int) else _UNSET, _int(spec.get("maxReplicas")),
            _int(status.get("currentReplicas")), age(hpa, now)]


# ---------------------------------------------------------------------------
# The default table and the registry of printers.


def _rfc3339(moment: datetime | None) -> str:
    """Go's Time.UTC().Format(time.RFC3339); the zero time for a missing one."""
    utc = (moment or _ZERO_TIME).astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def _default_cells(obj: dict, now: datetime) -> list:
    return [_name(obj), _rfc3339(parse_time(_dict(obj.get("metadata")).get("creationTimestamp")))]


_Printer = Callable[[dict, datetime], list]

# Keyed by (group, kind): upstream registers one printer per internal kind, whatever the version.
_PRINTERS: dict[tuple[str, str], tuple[tuple[dict, ...], _Printer]] = {
    ("", "Pod"): (_POD_COLUMNS, _pod_cells),
    ("", "Namespace"): (_NAMESPACE_COLUMNS, _namespace_cells),
    ("", "Node"): (_NODE_COLUMNS, _node_cells),
    ("", "Service"): (_SERVICE_COLUMNS, _service_cells),
    ("", "Endpoints"): (_ENDPOINTS_COLUMNS, _endpoints_cells),
    ("", "ConfigMap"): (_CONFIGMAP_COLUMNS, _configmap_cells),
    ("", "Secret"): (_SECRET_COLUMNS, _secret_cells),
    ("", "Event"): (_EVENT_COLUMNS, _event_cells),
    ("", "ServiceAccount"): (_SERVICE_ACCOUNT_COLUMNS, _service_account_cells),
    ("", "ReplicationController"): (_REPLICATION_CONTROLLER_COLUMNS, _replication_controller_cells),
    ("apps", "Deployment"): (_DEPLOYMENT_COLUMNS, _deployment_cells),
    ("apps", "ReplicaSet"): (_REPLICASET_COLUMNS, _replicaset_cells),
    ("apps", "DaemonSet"): (_DAEMONSET_COLUMNS, _daemonset_cells),
    ("apps", "StatefulSet"): (_STATEFULSET_COLUMNS, _statefulset_cells),
    ("batch", "Job"): (_JOB_COLUMNS, _job_cells),
    ("batch", "CronJob"): (_CRONJOB_COLUMNS, _cronjob_cells),
    ("autoscaling", "HorizontalPodAutoscaler"): (_HPA_COLUMNS, _hpa_cells),
    ("coordination.k8s.io", "Lease"): (_LEASE_COLUMNS, _lease_cells),
}


def _printer(rt: ResourceType) -> tuple[tuple[dict, ...], _Printer]:
    return _PRINTERS.get((rt.group, rt.kind), (_DEFAULT_COLUMNS, _default_cells))


def column_definitions(rt: ResourceType) -> list[dict]:
    """The Table columnDefinitions for a resource, wide (priority 1) columns included."""
    return [dict(column) for column in _printer(rt)[0]]


def row_cells(rt: ResourceType, obj: dict, now: datetime) -> list:
    """The cells of one object's row, one per column of column_definitions(rt)."""
    return _printer(rt)[1](_dict(obj), now)


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _dict(obj.get("metadata"))}


def _row(rt: ResourceType, obj: dict, now: datetime, include_object: str) -> dict:
    row: dict[str, Any] = {"cells": row_cells(rt, obj, now)}
    conditions = _pod_row_conditions(_dict(obj)) if (rt.group, rt.kind) == ("", "Pod") else []
    if conditions:
        row["conditions"] = conditions
    row_object = _row_object(_dict(obj), include_object)
    if row_object is not None:
        row["object"] = row_object
    return row


def to_table(rt: ResourceType, objects: list[dict], *, resource_version: str, continue_token: str | None = None,
             include_object: str = "Metadata", now: datetime | None = None, include_headers: bool = True) -> dict:
    """A meta.k8s.io/v1 Table of these objects (includeObject: Metadata, Object or None)."""
    moment = now or datetime.now(timezone.utc)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(rt) if include_headers else [],
        "rows": [_row(rt, obj, moment, include_object) for obj in objects],
    }
