"""The declarative schema: every served kind is described, clean manifests pass, typos and wrong JSON types are
caught with upstream's paths and messages, and list fields carry upstream's patch tags."""
from __future__ import annotations

import copy

import pytest
import yaml

from common.api import kinds  # noqa: F401  (registers every kind)
from common.api.registry import REGISTRY
from common.api.schema import Kind, Node, check, schema_for

# ---------------------------------------------------------------------------
# realistic, full-featured manifests (timestamps quoted: YAML would make them datetimes)

POD = yaml.safe_load("""
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web, tier: frontend}
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: 1b2c, controller: true, blockOwnerDeletion: true}
  finalizers: [example.com/keep]
  creationTimestamp: "2024-05-01T12:00:00Z"
  managedFields:
  - manager: kubectl
    operation: Update
    apiVersion: v1
    time: "2024-05-01T12:00:00Z"
    fieldsType: FieldsV1
    fieldsV1: {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  dnsPolicy: ClusterFirst
  nodeSelector: {disk: ssd}
  serviceAccountName: web
  automountServiceAccountToken: false
  hostname: web-0
  subdomain: web
  priority: 1000
  priorityClassName: high
  enableServiceLinks: false
  imagePullSecrets: [{name: regcred}]
  hostAliases: [{ip: 10.0.0.1, hostnames: [db.local]}]
  dnsConfig:
    nameservers: [1.1.1.1]
    searches: [svc.cluster.local]
    options: [{name: ndots, value: "2"}]
  readinessGates: [{conditionType: example.com/ready}]
  os: {name: linux}
  overhead: {cpu: 10m}
  schedulingGates: [{name: wait}]
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    runAsNonRoot: true
    fsGroup: 2000
    fsGroupChangePolicy: OnRootMismatch
    supplementalGroups: [4000]
    sysctls: [{name: net.core.somaxconn, value: "1024"}]
    seccompProfile: {type: RuntimeDefault}
    seLinuxOptions: {level: "s0:c123,c456"}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: zone, operator: In, values: [a, b]}]
          matchFields: [{key: metadata.name, operator: NotIn, values: [bad-node]}]
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 10
        preference: {matchExpressions: [{key: gpu, operator: Exists}]}
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: cache}}
        topologyKey: kubernetes.io/hostname
        namespaces: [default]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions: [{key: app, operator: In, values: [web]}]
          topologyKey: kubernetes.io/hostname
          matchLabelKeys: [pod-template-hash]
  tolerations:
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector: {matchLabels: {app: web}}
    minDomains: 2
    nodeAffinityPolicy: Honor
  initContainers:
  - name: init
    image: busybox:1.36
    command: [sh, -c, "echo hi"]
    restartPolicy: Always
  containers:
  - name: web
    image: nginx:1.27
    imagePullPolicy: IfNotPresent
    workingDir: /srv
    args: [--port, "8080"]
    ports:
    - {name: http, containerPort: 8080, protocol: TCP}
    - {containerPort: 9090, hostPort: 9090, hostIP: 0.0.0.0}
    env:
    - {name: PLAIN, value: "1"}
    - name: POD_NAME
      valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}
    - name: MEM
      valueFrom: {resourceFieldRef: {containerName: web, resource: limits.memory, divisor: 1Mi}}
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: settings, key: color, optional: true}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    envFrom:
    - {prefix: CFG_, configMapRef: {name: settings}}
    - secretRef: {name: creds, optional: false}
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 1, memory: 128Mi, ephemeral-storage: 1Gi}
    resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: config, mountPath: /etc/config, readOnly: true, subPath: app.conf, mountPropagation: None}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
        scheme: HTTP
        httpHeaders: [{name: X-Probe, value: liveness}]
      initialDelaySeconds: 5
      periodSeconds: 10
      timeoutSeconds: 1
      successThreshold: 1
      failureThreshold: 3
    readinessProbe:
      tcpSocket: {port: 8080}
    startupProbe:
      exec: {command: [cat, /tmp/ready]}
      terminationGracePeriodSeconds: 10
    lifecycle:
      postStart: {exec: {command: [sh, -c, "true"]}}
      preStop: {sleep: {seconds: 5}}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      privileged: false
      capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
      appArmorProfile: {type: RuntimeDefault}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: FallbackToLogsOnError
  - name: grpc
    image: example/grpc:1
    stdin: true
    tty: true
    readinessProbe:
      grpc: {port: 9000, service: health}
    lifecycle:
      preStop: {httpGet: {path: /stop, port: 9000}}
  volumes:
  - {name: data, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
  - {name: host, hostPath: {path: /var/log, type: Directory}}
  - name: config
    configMap:
      name: settings
      defaultMode: 420
      items: [{key: app.conf, path: app.conf, mode: 256}]
  - {name: secret, secret: {secretName: creds, optional: true}}
  - {name: claim, persistentVolumeClaim: {claimName: data-0, readOnly: false}}
  - name: projected
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {audience: api, expirationSeconds: 3600, path: token}
      - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
      - downwardAPI:
          items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]
      - secret: {name: creds}
  - name: podinfo
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: cpu, resourceFieldRef: {containerName: web, resource: requests.cpu, divisor: 1m}}
  - {name: shared, nfs: {server: nfs.local, path: /exports, readOnly: true}}
  - name: csi
    csi:
      driver: secrets-store.csi.k8s.io
      readOnly: true
      volumeAttributes: {secretProviderClass: vault}
      nodePublishSecretRef: {name: creds}
  - name: scratch
    ephemeral:
      volumeClaimTemplate:
        metadata: {labels: {type: scratch}}
        spec:
          accessModes: [ReadWriteOnce]
          storageClassName: fast
          resources: {requests: {storage: 1Gi}}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "True", lastProbeTime: null, lastTransitionTime: "2024-05-01T12:00:05Z"}
  hostIP: 10.0.0.5
  hostIPs: [{ip: 10.0.0.5}]
  podIP: 10.244.1.7
  podIPs: [{ip: 10.244.1.7}]
  startTime: "2024-05-01T12:00:00Z"
  qosClass: Burstable
  containerStatuses:
  - name: web
    ready: true
    started: true
    restartCount: 2
    image: nginx:1.27
    imageID: docker-pullable://nginx@sha256:abc
    containerID: docker://1234
    state: {running: {startedAt: "2024-05-01T12:00:03Z"}}
    lastState:
      terminated: {exitCode: 137, signal: 9, reason: OOMKilled, startedAt: "2024-05-01T11:00:00Z",
                   finishedAt: "2024-05-01T11:59:00Z", containerID: docker://0001}
  initContainerStatuses:
  - name: init
    ready: false
    restartCount: 0
    image: busybox:1.36
    imageID: ""
    state: {waiting: {reason: PodInitializing, message: waiting}}
""")

DEPLOYMENT = yaml.safe_load("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}, generation: 3}
spec:
  replicas: 3
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 600
  minReadySeconds: 5
  paused: false
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 1}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 500m, memory: 128Mi}}
status:
  observedGeneration: 3
  replicas: 3
  updatedReplicas: 3
  readyReplicas: 3
  availableReplicas: 3
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable, message: ok,
     lastUpdateTime: "2024-05-01T12:00:00Z", lastTransitionTime: "2024-05-01T12:00:00Z"}
""")

SERVICE = yaml.safe_load("""
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: web}
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}
  externalTrafficPolicy: Local
  internalTrafficPolicy: Cluster
  healthCheckNodePort: 31000
  allocateLoadBalancerNodePorts: true
  loadBalancerSourceRanges: [10.0.0.0/8]
  ports:
  - {name: http, port: 80, targetPort: http, protocol: TCP, nodePort: 30080, appProtocol: http}
  - {name: metrics, port: 9090, targetPort: 9090}
status:
  loadBalancer:
    ingress:
    - ip: 203.0.113.7
      ipMode: VIP
      ports: [{port: 80, protocol: TCP}]
    - {hostname: lb.example.com}
  conditions:
  - {type: Ready, status: "True", observedGeneration: 1, lastTransitionTime: "2024-05-01T12:00:00Z",
     reason: Ok, message: ready}
""")

NODE = yaml.safe_load("""
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {kubernetes.io/hostname: node-1}}
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs: [10.244.1.0/24]
  providerID: kubelab://node-1
  unschedulable: false
  taints:
  - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
  - {key: node.kubernetes.io/unreachable, effect: NoExecute, timeAdded: "2024-05-01T12:00:00Z"}
status:
  capacity: {cpu: "2", memory: 4029552Ki, pods: "110", ephemeral-storage: 61255492Ki}
  allocatable: {cpu: 1900m, memory: 3.5Gi, pods: "110"}
  phase: Running
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status,
     lastHeartbeatTime: "2024-05-01T12:00:00Z", lastTransitionTime: "2024-05-01T11:00:00Z"}
  - {type: MemoryPressure, status: "False", reason: KubeletHasSufficientMemory,
     lastHeartbeatTime: "2024-05-01T12:00:00Z", lastTransitionTime: "2024-05-01T11:00:00Z"}
  addresses:
  - {type: InternalIP, address: 10.0.0.5}
  - {type: Hostname, address: node-1}
  daemonEndpoints: {kubeletEndpoint: {Port: 10250}}
  nodeInfo:
    machineID: abc
    systemUUID: def
    bootID: ghi
    kernelVersion: 6.8.0
    osImage: Ubuntu 24.04
    containerRuntimeVersion: docker://27.0.0
    kubeletVersion: v1.36.3
    kubeProxyVersion: v1.36.3
    operatingSystem: linux
    architecture: amd64
  images:
  - {names: ["nginx@sha256:abc", "nginx:1.27"], sizeBytes: 187000000}
  volumesInUse: [kubernetes.io/csi/x]
  volumesAttached: [{name: kubernetes.io/csi/x, devicePath: /dev/sdb}]
  runtimeHandlers: [{name: runc, features: {recursiveReadOnlyMounts: true, userNamespaces: false}}]
""")

CRONJOB = yaml.safe_load("""
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: default}
spec:
  schedule: "*/5 * * * *"
  timeZone: Etc/UTC
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 100
  suspend: false
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 1
  jobTemplate:
    metadata: {labels: {job: report}}
    spec:
      backoffLimit: 2
      completions: 4
      parallelism: 2
      completionMode: Indexed
      activeDeadlineSeconds: 600
      ttlSecondsAfterFinished: 100
      podReplacementPolicy: Failed
      podFailurePolicy:
        rules:
        - action: FailJob
          onExitCodes: {containerName: main, operator: In, values: [42]}
        - action: Ignore
          onPodConditions: [{type: DisruptionTarget, status: "True"}]
      successPolicy:
        rules: [{succeededIndexes: "0-2", succeededCount: 2}]
      template:
        spec:
          restartPolicy: Never
          containers: [{name: main, image: busybox, command: [date]}]
status:
  active: [{kind: Job, namespace: default, name: report-1, uid: u1, apiVersion: batch/v1, resourceVersion: "7"}]
  lastScheduleTime: "2024-05-01T12:00:00Z"
  lastSuccessfulTime: "2024-05-01T11:55:03Z"
""")

HPA = yaml.safe_load("""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
  - type: ContainerResource
    containerResource: {name: memory, container: web, target: {type: AverageValue, averageValue: 200Mi}}
  - type: Pods
    pods:
      metric: {name: requests_per_second, selector: {matchLabels: {app: web}}}
      target: {type: AverageValue, averageValue: "1k"}
  - type: Object
    object:
      describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main}
      metric: {name: hits}
      target: {type: Value, value: 10k}
  - type: External
    external: {metric: {name: queue_depth}, target: {type: Value, value: 30}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      selectPolicy: Min
      policies: [{type: Percent, value: 10, periodSeconds: 60}]
    scaleUp:
      policies:
      - {type: Pods, value: 4, periodSeconds: 15}
      - {type: Percent, value: 100, periodSeconds: 15}
status:
  observedGeneration: 1
  currentReplicas: 3
  desiredReplicas: 4
  lastScaleTime: "2024-05-01T12:00:00Z"
  currentMetrics:
  - type: Resource
    resource: {name: cpu, current: {averageUtilization: 75, averageValue: 150m}}
  conditions:
  - {type: AbleToScale, status: "True", reason: ReadyForNewScale, lastTransitionTime: "2024-05-01T12:00:00Z"}
""")

STATEFULSET = yaml.safe_load("""
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  podManagementPolicy: Parallel
  ordinals: {start: 1}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1, maxUnavailable: 50%}}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres:16}]}
  volumeClaimTemplates:
  - apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      volumeMode: Filesystem
      resources: {requests: {storage: 10Gi}}
status: {replicas: 3, readyReplicas: 3, currentRevision: db-1, updateRevision: db-1, availableReplicas: 3}
""")

OTHER_KINDS = [
    ("v1", "Namespace", {"metadata": {"name": "team"}, "spec": {"finalizers": ["kubernetes"]},
                         "status": {"phase": "Active"}}),
    ("v1", "ConfigMap", {"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"b": "aGVsbG8="},
                         "immutable": True}),
    ("v1", "Secret", {"metadata": {"name": "s"}, "type": "Opaque", "data": {"password": "c2VjcmV0"},
                      "stringData": {"user": "admin"}}),
    ("v1", "Endpoints", {"metadata": {"name": "web"}, "subsets": [{
        "addresses": [{"ip": "10.244.1.7", "nodeName": "node-1",
                       "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default", "uid": "u"}}],
        "notReadyAddresses": [{"ip": "10.244.2.3", "hostname": "web-1"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]}]}),
    ("v1", "Event", {"metadata": {"name": "web.17"}, "involvedObject": {"kind": "Pod", "name": "web", "uid": "u",
                                                                         "fieldPath": "spec.containers{web}"},
                     "reason": "Pulled", "message": "pulled", "type": "Normal", "count": 3,
                     "source": {"component": "kubelet", "host": "node-1"},
                     "firstTimestamp": "2024-05-01T12:00:00Z", "lastTimestamp": "2024-05-01T12:01:00Z",
                     "eventTime": "2024-05-01T12:00:00.123456Z", "action": "Pulling",
                     "series": {"count": 2, "lastObservedTime": "2024-05-01T12:01:00.000001Z"},
                     "related": {"kind": "Node", "name": "node-1"},
                     "reportingComponent": "kubelet", "reportingInstance": "node-1"}),
    ("v1", "ServiceAccount", {"metadata": {"name": "web"}, "secrets": [{"name": "web-token"}],
                              "imagePullSecrets": [{"name": "regcred"}], "automountServiceAccountToken": False}),
    ("v1", "Binding", {"metadata": {"name": "web-0"}, "target": {"apiVersion": "v1", "kind": "Node",
                                                                   "name": "node-1"}}),
    ("apps/v1", "ReplicaSet", {"metadata": {"name": "web-1"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "w", "image": "i"}]}}},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "observedGeneration": 1}}),
    ("apps/v1", "DaemonSet", {"metadata": {"name": "proxy"}, "spec": {
        "selector": {"matchLabels": {"app": "proxy"}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        "template": {"metadata": {"labels": {"app": "proxy"}},
                     "spec": {"hostNetwork": True, "containers": [{"name": "p", "image": "i"}]}}},
        "status": {"currentNumberScheduled": 3, "numberMisscheduled": 0, "desiredNumberScheduled": 3,
                   "numberReady": 3}}),
    ("batch/v1", "Job", {"metadata": {"name": "once"}, "spec": {
        "backoffLimitPerIndex": 1, "maxFailedIndexes": 2, "completionMode": "Indexed", "completions": 3,
        "template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "m", "image": "i"}]}}},
        "status": {"active": 1, "succeeded": 1, "failed": 0, "ready": 1, "startTime": "2024-05-01T12:00:00Z",
                   "completedIndexes": "0", "uncountedTerminatedPods": {"succeeded": ["u1"]},
                   "conditions": [{"type": "Complete", "status": "True"}]}}),
    ("coordination.k8s.io/v1", "Lease", {"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": {
        "holderIdentity": "node-1", "leaseDurationSeconds": 40, "leaseTransitions": 0,
        "acquireTime": "2024-05-01T12:00:00.000000Z", "renewTime": "2024-05-01T12:00:10.123456Z"}}),
    ("autoscaling/v1", "Scale", {"metadata": {"name": "web"}, "spec": {"replicas": 5},
                                 "status": {"replicas": 3, "selector": "app=web"}}),
    ("v1", "DeleteOptions", {"gracePeriodSeconds": 0, "propagationPolicy": "Foreground", "dryRun": ["All"],
                             "preconditions": {"uid": "u", "resourceVersion": "7"}}),
    ("meta.k8s.io/v1", "DeleteOptions", {"orphanDependents": False}),
]

CLEAN = [("v1", "Pod", POD), ("apps/v1", "Deployment", DEPLOYMENT), ("v1", "Service", SERVICE),
         ("v1", "Node", NODE), ("batch/v1", "CronJob", CRONJOB), ("autoscaling/v2", "HorizontalPodAutoscaler", HPA),
         ("apps/v1", "StatefulSet", STATEFULSET), *OTHER_KINDS]


@pytest.mark.parametrize("api_version, kind, manifest", CLEAN, ids=[f"{v}/{k}" for v, k, _ in CLEAN])
def test_clean_manifests_have_no_problems(api_version: str, kind: str, manifest: dict) -> None:
    assert check(api_version, kind, {"apiVersion": api_version, "kind": kind, **manifest}) == ([], [])


def test_every_registered_kind_has_a_schema() -> None:
    missing = [rt.kind for rt in REGISTRY.all() if schema_for(rt.api_version, rt.kind) is None]
    assert missing == []


@pytest.mark.parametrize("api_version, kind", [("v1", "Widget"), ("apps/v1", "Pod"), ("v2", "Deployment")])
def test_unknown_kinds_have_no_schema(api_version: str, kind: str) -> None:
    assert schema_for(api_version, kind) is None
    assert check(api_version, kind, {"anything": 1}) == ([], [])


# ---------------------------------------------------------------------------
# unknown fields (fieldValidation=Strict)

def edited(manifest: dict, edit) -> dict:
    copied = copy.deepcopy(manifest)
    edit(copied)
    return copied


def _typo_in_container(d: dict) -> None:
    d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"


def _typos_everywhere(d: dict) -> None:
    d["spce"] = {}
    d["metadata"]["lables"] = {"a": "b"}
    d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["port"] = 80
    d["spec"]["strategy"]["rollingUpdate"]["maxSurged"] = 1


@pytest.mark.parametrize("api_version, kind, manifest, expected", [
    ("apps/v1", "Deployment", edited(DEPLOYMENT, _typo_in_container),
     ["spec.template.spec.containers[0].imagePullPolicyy"]),
    ("apps/v1", "Deployment", edited(DEPLOYMENT, _typos_everywhere),
     ["metadata.lables", "spec.strategy.rollingUpdate.maxSurged", "spec.template.spec.containers[0].ports[0].port",
      "spce"]),
    # Go's decoder is case-sensitive in Kubernetes: "Replicas" is not "replicas".
    ("apps/v1", "Deployment", edited(DEPLOYMENT, lambda d: d["spec"].update(Replicas=2)), ["spec.Replicas"]),
    # Map values are reached through their key; PodTemplateSpec does not embed TypeMeta.
    ("v1", "Pod", edited(POD, lambda d: d["spec"]["volumes"][5]["projected"]["sources"][0]["serviceAccountToken"]
                         .update(audiences=["x"])),
     ["spec.volumes[5].projected.sources[0].serviceAccountToken.audiences"]),
    ("apps/v1", "Deployment", edited(DEPLOYMENT, lambda d: d["spec"]["template"].update(kind="Pod")),
     ["spec.template.kind"]),
    ("v1", "Node", edited(NODE, lambda d: d["status"]["daemonEndpoints"]["kubeletEndpoint"].update(port=1)),
     ["status.daemonEndpoints.kubeletEndpoint.port"]),
    ("v1", "Secret", {"metadata": {"name": "s"}, "data": {}, "strinData": {}}, ["strinData"]),
    # Nothing below a value of the wrong type, nor inside free-form fieldsV1, is examined.
    ("v1", "Pod", {"spec": {"containers": {"name": "x", "bogus": 1}}}, []),
    ("v1", "Pod", {"metadata": {"managedFields": [{"fieldsV1": {"f:anything": {"x": 1}}}]}}, []),
])
def test_unknown_fields_are_reported_with_strict_paths(api_version: str, kind: str, manifest: dict,
                                                      expected: list[str]) -> None:
    unknown, _ = check(api_version, kind, manifest)
    assert sorted(unknown) == sorted(expected)


# ---------------------------------------------------------------------------
# wrong JSON types, in the words of upstream's decoder

def _container(**fields: object) -> dict:
    return {"spec": {"containers": [{"name": "c", "image": "i", **fields}]}}


@pytest.mark.parametrize("api_version, kind, manifest, expected", [
    ("apps/v1", "Deployment", {"spec": {"replicas": "3"}},
     ("spec.replicas",
      "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")),
    ("v1", "Pod", _container(ports=[{"containerPort": "80"}]),
     ("spec.containers[0].ports[0].containerPort",
      "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort "
      "of type int32")),
    ("v1", "Pod", {"metadata": {"labels": {"app": 1}}},
     ("metadata.labels.app",
      "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string")),
    ("apps/v1", "Deployment", {"spec": {"replicas": 2.5}},
     ("spec.replicas",
      "json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of type int32")),
    ("apps/v1", "Deployment", {"spec": {"replicas": 2 ** 31}},
     ("spec.replicas",
      "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32")),
    ("v1", "Pod", {"spec": {"terminationGracePeriodSeconds": True}},
     ("spec.terminationGracePeriodSeconds",
      "json: cannot unmarshal bool into Go struct field PodSpec.spec.terminationGracePeriodSeconds of type int64")),
    ("v1", "Pod", {"spec": {"hostNetwork": "true"}},
     ("spec.hostNetwork", "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool")),
    ("v1", "Pod", {"spec": {"containers": {"name": "c"}}},
     ("spec.containers",
      "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container")),
    ("v1", "Pod", {"spec": "nope"},
     ("spec", "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec")),
    ("v1", "Pod", {"spec": {"nodeSelector": ["a"]}},
     ("spec.nodeSelector",
      "json: cannot unmarshal array into Go struct field PodSpec.spec.nodeSelector of type map[string]string")),
    ("v1", "Pod", _container(ports=[{"containerPort": 80, "protocol": 6}]),
     ("spec.containers[0].ports[0].protocol",
      "json: cannot unmarshal number into Go struct field ContainerPort.spec.containers.ports.protocol "
      "of type v1.Protocol")),
    ("v1", "Pod", _container(command="sleep 1"),
     ("spec.containers[0].command",
      "json: cannot unmarshal string into Go struct field Container.spec.containers.command of type []string")),
    # IntOrString decodes anything but a string as int32.
    ("v1", "Pod", _container(livenessProbe={"httpGet": {"port": True}}),
     ("spec.containers[0].livenessProbe.httpGet.port",
      "json: cannot unmarshal bool into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port "
      "of type int32")),
    # Fields of embedded structs are reported against the outer struct, as Go promotes them.
    ("v1", "Pod", {"spec": {"volumes": [{"name": "v", "configMap": {"name": 7}}]}},
     ("spec.volumes[0].configMap.name",
      "json: cannot unmarshal number into Go struct field ConfigMapVolumeSource.spec.volumes.configMap.name "
      "of type string")),
    ("v1", "Pod", {"spec": {"ephemeralContainers": [{"name": "debug", "tty": "yes"}]}},
     ("spec.ephemeralContainers[0].tty",
      "json: cannot unmarshal string into Go struct field EphemeralContainer.spec.ephemeralContainers.tty "
      "of type bool")),
    # Quantities, times and bytes fail in their own UnmarshalJSON, whose errors Go reports bare.
    ("v1", "Pod", _container(resources={"limits": {"cpu": "one"}}),
     ("spec.containers[0].resources.limits.cpu",
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
    ("v1", "Pod", _container(resources={"requests": {"memory": "1Mx"}}),
     ("spec.containers[0].resources.requests.memory",
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
    ("v1", "Pod", _container(resources={"requests": {"memory": "1Mm"}}),
     ("spec.containers[0].resources.requests.memory", "unable to parse quantity's suffix")),
    ("v1", "Pod", _container(resources={"requests": {"cpu": True}}),
     ("spec.containers[0].resources.requests.cpu",
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
    ("v1", "Pod", {"metadata": {"creationTimestamp": 5}},
     ("metadata.creationTimestamp",
      "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string")),
    ("v1", "Pod", {"metadata": {"creationTimestamp": "2024-05-01 12:00:00"}},
     ("metadata.creationTimestamp",
      'parsing time "2024-05-01 12:00:00" as "2006-01-02T15:04:05Z07:00": cannot parse " 12:00:00" as "T"')),
    ("coordination.k8s.io/v1", "Lease", {"spec": {"renewTime": "2024-05-01T12:00:00Z"}},
     ("spec.renewTime", 'parsing time "2024-05-01T12:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": '
                        'cannot parse "Z" as ".000000"')),
    ("v1", "Secret", {"data": {"password": "not base64!"}},
     ("data.password", "illegal base64 data at input byte 3")),
    ("v1", "Secret", {"data": {"password": 42}},
     ("data.password", "json: cannot unmarshal number into Go struct field Secret.data of type []uint8")),
    ("v1", "Pod", [],
     ("", "json: cannot unmarshal array into Go value of type v1.Pod")),
])
def test_type_errors_use_upstream_messages(api_version: str, kind: str, manifest: object,
                                           expected: tuple[str, str]) -> None:
    unknown, type_errors = check(api_version, kind, manifest)  # type: ignore[arg-type]
    assert type_errors == [expected]
    assert unknown == []


def test_every_type_error_is_listed_in_document_order() -> None:
    manifest = {"metadata": {"labels": {"a": 1, "b": "ok", "c": False}}, "spec": {"replicas": "1", "paused": 0}}
    _, type_errors = check("apps/v1", "Deployment", manifest)
    assert [path for path, _ in type_errors] == ["metadata.labels.a", "metadata.labels.c", "spec.replicas",
                                                 "spec.paused"]


@pytest.mark.parametrize("value", [None, "80", 80, "http", 0, -1])
def test_int_or_string_accepts_numbers_strings_and_null(value: object) -> None:
    assert check("v1", "Service", {"spec": {"ports": [{"port": 80, "targetPort": value}]}}) == ([], [])


@pytest.mark.parametrize("value, message", [
    ("2024-05-01T12:00:00Z", None),
    ("2024-05-01T12:00:00.5+02:00", None),   # Go accepts a fraction the layout does not mention
    ("2024-02-29T00:00:00Z", None),
    ("2023-02-29T00:00:00Z", 'parsing time "2023-02-29T00:00:00Z": day out of range'),
    ("2024-13-01T00:00:00Z", 'parsing time "2024-13-01T00:00:00Z": month out of range'),
    ("2024-05-01T24:00:00Z", 'parsing time "2024-05-01T24:00:00Z": hour out of range'),
    ("2024-05-01T12:00:00", 'parsing time "2024-05-01T12:00:00" as "2006-01-02T15:04:05Z07:00": '
                            'cannot parse "" as "Z07:00"'),
    ("2024-05-01T12:00:00Zjunk", 'parsing time "2024-05-01T12:00:00Zjunk": extra text: "junk"'),
    ("yesterday", 'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'),
])
def test_time_parsing_follows_go(value: str, message: str | None) -> None:
    _, type_errors = check("v1", "Pod", {"status": {"startTime": value}})
    assert type_errors == ([] if message is None else [("status.startTime", message)])


@pytest.mark.parametrize("value, bad_byte", [
    ("aGVsbG8=", None), ("aGVsbG8gd29ybGQ=", None), ("aGVs\nbG8=", None), ("", None),
    ("aGVsbG8", 4),      # an incomplete final quantum: where it starts
    ("aGVsbG8==", 8),    # one "=" too many
    ("aG=sbG8=", 2),     # "=" where a second "=" was due
    ("a", 0),
    ("aGVs*G8=", 4),
])
def test_base64_errors_name_the_byte_go_names(value: str, bad_byte: int | None) -> None:
    _, type_errors = check("v1", "ConfigMap", {"binaryData": {"k": value}})
    expected = [] if bad_byte is None else [("binaryData.k", f"illegal base64 data at input byte {bad_byte}")]
    assert type_errors == expected


@pytest.mark.parametrize("value, ok", [
    ("1", True), ("500m", True), ("1.5Gi", True), ("1e3", True), ("2E", True), (".5", True), ("-1", True),
    (3, True), (0.25, True), (" 1Gi ", True),
    ("", False), ("1e", False), ("Gi1", False), ("1 Gi", False), ("1Gib", False), ({"v": 1}, False),
])
def test_quantities_parse_as_resource_parse_quantity_does(value: object, ok: bool) -> None:
    _, type_errors = check("v1", "Node", {"status": {"capacity": {"cpu": value}}})
    assert (type_errors == []) is ok


# ---------------------------------------------------------------------------
# patch metadata from upstream's struct tags

def field_at(node: Node, path: str) -> Node:
    """Follow a dotted path, stepping into list items, to one field's node."""
    for step in path.split("."):
        if node.kind == Kind.LIST:
            node = node.item
        found = node.child(step)
        assert found is not None, step
        node = found
    return node


@pytest.mark.parametrize("api_version, kind, path, merge_key, strategy", [
    ("v1", "Pod", "spec.containers", "name", "merge"),
    ("v1", "Pod", "spec.initContainers", "name", "merge"),
    ("v1", "Pod", "spec.ephemeralContainers", "name", "merge"),
    ("v1", "Pod", "spec.containers.env", "name", "merge"),
    ("v1", "Pod", "spec.containers.ports", "containerPort", "merge"),
    ("v1", "Pod", "spec.containers.volumeMounts", "mountPath", "merge"),
    ("v1", "Pod", "spec.containers.volumeDevices", "devicePath", "merge"),
    ("v1", "Pod", "spec.volumes", "name", "merge,retainKeys"),
    ("v1", "Pod", "spec.imagePullSecrets", "name", "merge"),
    ("v1", "Pod", "spec.hostAliases", "ip", "merge"),
    ("v1", "Pod", "spec.topologySpreadConstraints", "topologyKey", "merge"),
    ("v1", "Pod", "spec.schedulingGates", "name", "merge"),
    ("v1", "Pod", "status.conditions", "type", "merge"),
    ("v1", "Pod", "status.podIPs", "ip", "merge"),
    ("v1", "Pod", "metadata.ownerReferences", "uid", "merge"),
    ("v1", "Pod", "metadata.finalizers", "", "merge"),
    ("v1", "Pod", "spec.tolerations", "", ""),
    ("v1", "Pod", "spec.containers.args", "", ""),
    ("v1", "Pod", "status.containerStatuses", "", ""),
    ("v1", "Service", "spec.ports", "port", "merge"),
    ("v1", "Service", "spec.externalIPs", "", ""),
    ("v1", "Node", "status.addresses", "type", "merge"),
    ("v1", "Node", "status.conditions", "type", "merge"),
    ("v1", "Node", "spec.podCIDRs", "", "merge"),
    ("v1", "Node", "spec.taints", "", ""),
    ("v1", "ServiceAccount", "secrets", "name", "merge"),
    ("v1", "Endpoints", "subsets", "", ""),
    ("apps/v1", "Deployment", "spec.strategy", "", "retainKeys"),
    ("apps/v1", "Deployment", "spec.template.spec.containers", "name", "merge"),
    ("apps/v1", "Deployment", "status.conditions", "type", "merge"),
    ("batch/v1", "CronJob", "spec.jobTemplate.spec.template.spec.containers.env", "name", "merge"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "status.conditions", "type", "merge"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "spec.metrics", "", ""),
])
def test_list_fields_carry_upstream_patch_tags(api_version: str, kind: str, path: str, merge_key: str,
                                               strategy: str) -> None:
    node = field_at(schema_for(api_version, kind), path)
    assert (node.merge_key, node.patch_strategy) == (merge_key, strategy)


def test_nodes_expose_structure_for_patching() -> None:
    containers = field_at(schema_for("v1", "Pod"), "spec.containers")
    assert containers.kind == Kind.LIST and containers.item.kind == Kind.STRUCT
    assert containers.item.child("image").kind == Kind.STRING
    assert containers.item.child("imagePullPolicyy") is None
    labels = field_at(schema_for("v1", "Pod"), "metadata.labels")
    assert labels.kind == Kind.MAP and labels.child("any-key") is labels.value


# ---------------------------------------------------------------------------
# the walk spells paths and Go field paths only for problems: the edge cases of that spelling

class _Text(str):
    """A str subclass: not JSON's own type, still a string."""


QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


@pytest.mark.parametrize("kind, obj, unknown, type_errors", [
    ("Pod", "not an object", [], [("", "json: cannot unmarshal string into Go value of type v1.Pod")]),
    ("Pod", {"metadata": 5}, [],
     [("metadata", "json: cannot unmarshal number into Go struct field Pod.metadata of type v1.ObjectMeta")]),
    ("Pod", {"metadata": {"labels": {1: 5, "ok": _Text("x")}}}, [],
     [("metadata.labels.1", "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
                            "string")]),
    ("Pod", {"spec": {"containers": [{"name": _Text("c"), "command": ["a", 1], "zz": 1}, "x"],
                      "tolerations": [None, {"tolerationSeconds": True}]}},
     ["spec.containers[0].zz"],
     [("spec.containers[0].command[1]",
       "json: cannot unmarshal number into Go struct field Container.spec.containers.command of type string"),
      ("spec.containers[1]",
       "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type v1.Container"),
      ("spec.tolerations[1].tolerationSeconds",
       "json: cannot unmarshal bool into Go struct field Toleration.spec.tolerations.tolerationSeconds "
       "of type int64")]),
    ("Pod", {"metadata": {"managedFields": [{"fieldsV1": {"f:x": [1, {}]}, "time": "2024-01-01T00:00:00Z",
                                             "bogus": 1}]}},
     ["metadata.managedFields[0].bogus"], []),
    ("Pod", {"spec": {"overhead": {"cpu": True, "memory": 1.5, "x": "1e3", "y": "1Qi"}}}, [],
     [("spec.overhead.cpu", QUANTITY_FORMAT), ("spec.overhead.y", QUANTITY_FORMAT)]),
    ("ConfigMap", {"binaryData": {"k": "A==="}, "data": {"a": None}}, [],
     [("binaryData.k", "illegal base64 data at input byte 1")]),
])
def test_problem_paths_are_spelled_like_the_strict_decoder(kind: str, obj: object, unknown: list[str],
                                                           type_errors: list[tuple[str, str]]) -> None:
    for _ in range(2):  # the second time from the caches of the scalar checks
        assert check("v1", kind, obj) == (unknown, type_errors)
