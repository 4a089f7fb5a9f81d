"""Kubernetes protobuf bodies: what the real kubectl sends decodes to exactly the JSON it would have sent, what
encode_body writes the real kubectl reads back, and malformed bodies are a 400, never anything else."""
from __future__ import annotations

import base64
import copy
import json
import random
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from apiserver import discovery, openapi
from apiserver.handlers import drop_nulls
from apiserver.protobuf import MAGIC, MEDIA_TYPE, decode_body, encode_body
from common import kubeconfig
from common.api import kinds  # noqa: F401  (registers every kind)
from common.api.registry import REGISTRY
from common.api.schema import Kind, Node, schema_for
from common.errors import BadRequest

# --- a listener that answers discovery like kubelab and captures what kubectl POSTs --------------------------

# Objects kubectl GETs before it POSTs (`autoscale deployment web`, `create job --from=cronjob/tick`).
EXISTING = {
    "/apis/apps/v1/namespaces/default/deployments/web": {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "6b1c3e5a-0000-4000-8000-000000000001"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}},
    "/apis/batch/v1/namespaces/default/cronjobs/tick": {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default", "uid": "6b1c3e5a-0000-4000-8000-000000000002"},
        "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "tick", "image": "busybox", "args": ["date"]}]}}}}}},
}


class FakeApiserver:
    """Discovery and OpenAPI from kubelab's own functions; every POST is recorded and answered by `reply`."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        self.reply: Callable[[bytes], bytes] = self.echo
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = fake.document(self.path.split("?")[0].rstrip("/"))
                self.answer(200 if found else 404, found or {"kind": "Status", "apiVersion": "v1",
                                                             "status": "Failure", "reason": "NotFound", "code": 404})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                try:
                    self.answer(201, fake.reply(body), MEDIA_TYPE)
                except BadRequest as err:
                    self.answer(400, err.to_status())

            def answer(self, code: int, body: Any, content_type: str = "application/json") -> None:
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    @staticmethod
    def echo(body: bytes) -> bytes:
        """The default answer: the object back as protobuf, so kubectl's `-o json` shows what it read."""
        return encode_body(decode_body(body))

    @staticmethod
    def document(path: str) -> dict[str, Any] | None:
        parts = path.strip("/").split("/")
        if path == "/api":
            return discovery.api_versions()
        if path == "/apis":
            return discovery.api_group_list()
        if parts[0] == "api" and len(parts) == 2:
            return discovery.resource_list("", parts[1])
        if parts[0] == "apis" and len(parts) == 3:
            return discovery.resource_list(parts[1], parts[2])
        if path == "/openapi/v3":
            return openapi.root()
        if path.startswith("/openapi/v3/"):
            return openapi.document_for_path(path.removeprefix("/openapi/v3/"))
        return EXISTING.get(path)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApiserver]:
    server = FakeApiserver()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def kubectl(fake: FakeApiserver, kubectl_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Callable[..., subprocess.CompletedProcess[str]]:
    home = tmp_path_factory.getbasetemp() / "protobuf-kubectl"
    home.mkdir(exist_ok=True)
    config = home / "kubeconfig"
    kubeconfig.write(config, fake.url)
    fake.posts.clear()
    fake.reply = fake.echo

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(kubectl_dir / "kubectl-1.37"), "--kubeconfig", str(config), "--cache-dir", str(home / "cache"),
                *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    return run


def with_flags(command: list[str], *flags: str) -> list[str]:
    """Flags go before a `--` that starts the container's command."""
    at = command.index("--") if "--" in command else len(command)
    return [*command[:at], *flags, *command[at:]]


# --- what kubectl sends --------------------------------------------------------------------------------------

COMMANDS = {
    "namespace": ["create", "namespace", "team-a"],
    "deployment": ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"],
    "deployment with zero replicas": ["create", "deployment", "idle", "--image=nginx", "--replicas=0"],
    "configmap": ["create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=empty="],
    "configmap with binary data": ["create", "configmap", "blob", "--from-file=blob.bin={tmp}/blob.bin"],
    "secret generic": ["create", "secret", "generic", "creds", "--from-literal=user=admin",
                       "--from-literal=password=s3cr3t", "--namespace=team-a"],
    "service clusterip": ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:https"],
    "service nodeport": ["create", "service", "nodeport", "edge", "--tcp=80:8080", "--node-port=30080"],
    "serviceaccount": ["create", "serviceaccount", "robot"],
    "job": ["create", "job", "once", "--image=busybox", "--", "echo", "hello"],
    "cronjob": ["create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "--", "date"],
    "job from a cronjob": ["create", "job", "manual", "--from=cronjob/tick"],
    "horizontalpodautoscaler": ["autoscale", "deployment", "web", "--max=5", "--cpu-percent=50"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_decodes_what_kubectl_sends_to_the_json_it_would_send(name: str, kubectl: Callable[..., Any],
                                                              fake: FakeApiserver, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    command = [word.replace("{tmp}", str(tmp_path)) for word in COMMANDS[name]]
    dry_run = kubectl(*with_flags(command, "--dry-run=client", "-o", "json"))
    assert dry_run.returncode == 0, dry_run.stderr
    created = kubectl(*with_flags(command, "-o", "json"))
    assert created.returncode == 0, created.stderr

    [(path, content_type, body)] = fake.posts
    assert content_type == MEDIA_TYPE and body.startswith(MAGIC), (path, content_type)
    # `null` is all the JSON form prints that protobuf cannot carry (a nil list: HPA status.currentMetrics);
    # it means unset, and the apiserver drops it from JSON bodies too.
    sent_as_json = drop_nulls(json.loads(dry_run.stdout))
    assert decode_body(body) == sent_as_json
    # The echo went back as protobuf: kubectl read encode_body's bytes and printed the same object.
    assert drop_nulls(json.loads(created.stdout)) == sent_as_json


def test_the_real_body_decodes_with_defaults_from_the_endpoint(kubectl: Callable[..., Any],
                                                                fake: FakeApiserver) -> None:
    assert kubectl("create", "namespace", "team-b").returncode == 0
    [(_, _, body)] = fake.posts
    assert decode_body(body, ("v1", "Namespace")) == {"kind": "Namespace", "apiVersion": "v1",
                                                      "metadata": {"name": "team-b"}, "spec": {}, "status": {}}


# --- what kubectl reads: rich objects, as the apiserver would store them -------------------------------------

TIME = "2024-05-01T12:00:00Z"
MANAGED = [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": TIME,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {".": {}}}}}]
RICH_DEPLOYMENT = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "namespace": "default", "uid": "6b1c3e5a-0000-4000-8000-000000000003",
                 "resourceVersion": "42", "generation": 3, "creationTimestamp": TIME,
                 "labels": {"app": "web", "tier": "front"}, "annotations": {"deployment.kubernetes.io/revision": "2"},
                 "finalizers": ["example.com/keep"], "managedFields": MANAGED},
    "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
        "template": {
            "metadata": {"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": TIME}},
            "spec": {
                "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
                            {"name": "conf", "configMap": {"name": "settings", "defaultMode": 420,
                                                           "optional": False}}],
                "containers": [{
                    "name": "nginx", "image": "nginx:1.27", "command": ["nginx"], "args": ["-g", "daemon off;"],
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                          "fieldPath": "status.podIP"}}},
                            {"name": "EMPTY"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                      "periodSeconds": 10, "failureThreshold": 3},
                    "readinessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 1},
                    "volumeMounts": [{"name": "conf", "readOnly": True, "mountPath": "/etc/nginx/conf.d"}],
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"runAsNonRoot": False, "readOnlyRootFilesystem": True, "runAsUser": 0}}],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                "nodeSelector": {"disk": "ssd"}, "automountServiceAccountToken": False,
                "securityContext": {"supplementalGroups": [1, 2, 3]}, "schedulerName": "default-scheduler",
                "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                 "effect": "NoExecute", "tolerationSeconds": 300}]}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        "revisionHistoryLimit": 0, "progressDeadlineSeconds": 600},
    "status": {
        "observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": TIME, "lastTransitionTime": TIME,
                        "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]},
}
RICH_SECRET = {
    "kind": "Secret", "apiVersion": "v1",
    "metadata": {"name": "creds", "namespace": "default", "uid": "6b1c3e5a-0000-4000-8000-000000000004",
                 "resourceVersion": "7", "creationTimestamp": TIME,
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                      "uid": "6b1c3e5a-0000-4000-8000-000000000003", "controller": True,
                                      "blockOwnerDeletion": False}]},
    "immutable": True, "data": {"key": base64.b64encode(bytes(range(256))).decode(), "empty": ""},
    "type": "Opaque",
}
RICH_CRONJOB = {
    "kind": "CronJob", "apiVersion": "batch/v1",
    "metadata": {"name": "tick", "namespace": "default", "creationTimestamp": TIME, "generation": 1},
    "spec": {"schedule": "*/1 * * * *", "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid", "suspend": False,
             "jobTemplate": {"metadata": {}, "spec": {"backoffLimit": 0, "template": {"metadata": {}, "spec": {
                 "restartPolicy": "OnFailure", "containers": [{"name": "tick", "image": "busybox",
                                                               "resources": {}}]}}}},
             "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1},
    "status": {"active": [{"kind": "Job", "namespace": "default", "name": "tick-1", "apiVersion": "batch/v1"}],
               "lastScheduleTime": TIME},
}
RICH_SERVICE = {
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"name": "edge", "namespace": "default", "creationTimestamp": TIME},
    "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080},
                       {"name": "zero", "protocol": "UDP", "port": 0, "targetPort": 0}],
             "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "type": "NodePort",
             "sessionAffinity": "None", "externalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
             "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
    "status": {"loadBalancer": {}},
}
# The kubectl subcommand whose response each rich object stands in for.
READ_BACK = {
    "deployment": (RICH_DEPLOYMENT, ["create", "deployment", "web", "--image=nginx"]),
    "secret": (RICH_SECRET, ["create", "secret", "generic", "creds", "--from-literal=a=b"]),
    "cronjob": (RICH_CRONJOB, ["create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *"]),
    "service": (RICH_SERVICE, ["create", "service", "nodeport", "edge", "--tcp=80:8080"]),
}


@pytest.mark.parametrize("name", READ_BACK)
def test_kubectl_reads_back_what_encode_body_writes(name: str, kubectl: Callable[..., Any],
                                                    fake: FakeApiserver) -> None:
    obj, command = READ_BACK[name]
    fake.reply = lambda body: encode_body(obj)
    created = kubectl(*command, "-o", "json", "--show-managed-fields")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout) == obj
    assert decode_body(encode_body(obj)) == obj


# --- hand-made wire bytes: the special types and the zero values ---------------------------------------------

def varint(number: int) -> bytes:
    number &= (1 << 64) - 1  # negative int32/int64 go on the wire as ten-byte two's complement
    out = bytearray()
    while True:
        number, low = number >> 7, number & 0x7F
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    """One field: an int as a varint (wire type 0), bytes length-delimited (wire type 2)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version.encode()) + field(2, kind.encode())
    return MAGIC + field(1, type_meta) + field(2, raw)


def meta(name: str) -> bytes:
    return field(1, field(1, name.encode()))


def test_microtime_keeps_microseconds_and_time_keeps_seconds() -> None:
    stamp = field(1, 1714564800) + field(2, 123456789)  # 2024-05-01T12:00:00.123456789Z
    lease = meta("leader") + field(2, field(1, b"node-1") + field(3, stamp) + field(4, stamp))
    spec = decode_body(envelope("coordination.k8s.io/v1", "Lease", lease))["spec"]
    assert spec == {"holderIdentity": "node-1", "acquireTime": "2024-05-01T12:00:00.123456Z",
                    "renewTime": "2024-05-01T12:00:00.123456Z"}
    namespace = field(1, field(1, b"ns") + field(8, stamp))
    assert decode_body(envelope("v1", "Namespace", namespace))["metadata"] == {
        "name": "ns", "creationTimestamp": "2024-05-01T12:00:00Z"}


def test_zero_values_follow_the_go_types() -> None:
    """Upstream's encoder writes every value field, zero or not; JSON then drops the omitempty zeros only."""
    container = field(1, b"c") + field(2, b"") + field(5, b"") + field(16, 0)  # name, image, workingDir, stdin
    pod_spec = field(2, container) + field(4, 0) + field(3, b"")  # terminationGracePeriodSeconds: *int64 = 0
    status = field(1, b"")  # phase ""
    decoded = decode_body(envelope("v1", "Pod", meta("p") + field(2, pod_spec) + field(3, status)))
    assert decoded["spec"] == {"containers": [{"name": "c"}], "terminationGracePeriodSeconds": 0}
    assert decoded["status"] == {}
    # A value field without omitempty is always in the JSON, even when the body leaves it out entirely.
    statuses = field(8, field(1, b"c"))  # PodStatus.containerStatuses[0] with a name only
    decoded = decode_body(envelope("v1", "Pod", meta("p") + field(3, statuses)))
    assert decoded["status"]["containerStatuses"] == [
        {"name": "c", "ready": False, "restartCount": 0, "image": "", "imageID": ""}]


def test_int_or_string_quantity_and_maps() -> None:
    port_by_name = field(1, b"web") + field(3, 80) + field(4, field(1, 1) + field(3, b"http"))
    port_by_number = field(1, b"alt") + field(3, 81) + field(4, field(1, 0) + field(2, 8081))
    spec = field(1, port_by_name) + field(1, port_by_number) + field(2, field(1, b"app") + field(2, b"web"))
    decoded = decode_body(envelope("v1", "Service", meta("s") + field(2, spec)))
    assert decoded["spec"] == {"ports": [{"name": "web", "port": 80, "targetPort": "http"},
                                         {"name": "alt", "port": 81, "targetPort": 8081}],
                               "selector": {"app": "web"}}
    limits = field(1, field(1, b"cpu") + field(2, field(1, b"250m")))
    container = field(1, b"c") + field(8, limits)
    decoded = decode_body(envelope("v1", "Pod", meta("p") + field(2, field(2, container))))
    assert decoded["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "250m"}}


def test_bytes_are_base64_and_bad_utf8_is_replaced_as_go_does() -> None:
    secret = meta("s") + field(2, field(1, b"k") + field(2, b"\x00\xff")) + field(3, b"Opaque")
    assert decode_body(envelope("v1", "Secret", secret))["data"] == {"k": "AP8="}
    configmap = meta("c") + field(2, field(1, b"k") + field(2, b"ok\xe2\x82!"))
    assert decode_body(envelope("v1", "ConfigMap", configmap))["data"] == {"k": "ok\ufffd\ufffd!"}


def test_envelope_kind_defaults_from_the_endpoint() -> None:
    body = MAGIC + field(2, meta("ns"))
    assert decode_body(body, ("v1", "Namespace")) == {"kind": "Namespace", "apiVersion": "v1",
                                                      "metadata": {"name": "ns"}}
    with pytest.raises(BadRequest, match="the object provided is unrecognized: Object 'Kind' is missing"):
        decode_body(body)


def test_every_served_kind_is_numbered_throughout() -> None:
    """A field without a protobuf number would silently vanish from kubectl's objects."""
    def problems(node: Node, path: str, seen: set[int]) -> Iterator[str]:
        if node.kind == Kind.LIST or node.kind == Kind.MAP:
            yield from problems(node.item or node.value, path + "[]", seen)  # type: ignore[arg-type]
            return
        if node.kind != Kind.STRUCT or id(node.fields) in seen:
            return
        seen.add(id(node.fields))
        promoted = {name for inline in node.inline for name in inline.fields}
        numbers = [inline.pb for inline in node.inline if inline.pb]
        numbers += [child.pb for name, child in node.fields.items() if name not in promoted]
        if 0 in numbers or len(set(numbers)) != len(numbers):
            yield f"{path or node.go_type}: field numbers {numbers}"
        for name, child in node.fields.items():
            yield from problems(child, f"{path}.{name}", seen)

    served = [(rt.api_version, rt.kind) for rt in REGISTRY.all()]
    found = [problem for api_version, kind in served
             for problem in problems(schema_for(api_version, kind), kind, set())]  # type: ignore[arg-type]
    assert served and not found


# --- malformed bodies -----------------------------------------------------------------------------------------

NAMESPACE = envelope("v1", "Namespace", meta("ns") + field(2, b"") + field(3, b""))

MALFORMED = {
    "empty": (b"", "the object provided is unrecognized (must be of type Namespace): empty data (<empty>)"),
    "json": (b'{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"x"}}',
             "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] "
             '({"kind":"Namespace","apiVersio ...)'),
    "magic only": (MAGIC, "empty body (6b387300)"),
    "other encoding byte": (b"k8s\x01" + NAMESPACE[4:], "expected prefix [107 56 115 0]"),
    "truncated envelope": (NAMESPACE[:-1], "truncated or malformed protobuf data in runtime.Unknown"),
    "truncated object": (envelope("v1", "Namespace", meta("ns")[:-1]),
                         'Namespace in version "v1" cannot be handled as a Namespace: truncated or malformed '
                         "protobuf data in Namespace"),
    "unknown kind": (envelope("example.com/v1", "Widget", b""),
                     'Widget in version "v1" cannot be handled as a Namespace: no kind "Widget" is registered '
                     'for version "example.com/v1"'),
    "compressed": (MAGIC + field(1, field(1, b"v1") + field(2, b"Namespace")) + field(2, b"\x1f\x8b")
                   + field(3, b"gzip"), "unsupported contentEncoding 'gzip'"),
    "bad int-or-string": (envelope("v1", "Service", field(2, field(1, field(4, field(1, 7))))),
                          "impossible IntOrString.Type"),
    "time out of range": (envelope("v1", "Namespace", field(1, field(8, field(1, 1 << 40)))), "out of range"),
    "fieldsV1 not JSON": (envelope("v1", "Namespace", field(1, field(17, field(7, field(1, b"{nope"))))),
                          "not valid JSON"),
    "map key not UTF-8": (envelope("v1", "Namespace", field(1, field(11, field(1, b"\xff") + field(2, b"v")))),
                          "a map key is not valid UTF-8"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_bodies_are_bad_requests(name: str) -> None:
    body, message = MALFORMED[name]
    with pytest.raises(BadRequest) as caught:
        decode_body(body, ("v1", "Namespace"))
    assert message in caught.value.message
    assert caught.value.code == 400


def test_no_mangled_body_raises_anything_but_bad_request() -> None:
    """Every prefix and thousands of random corruptions of a rich body: decoded, or a BadRequest."""
    body = encode_body(RICH_DEPLOYMENT)
    rng = random.Random(1234)
    mangled = [body[:cut] for cut in range(len(body))]
    for _ in range(3000):
        data = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(MAGIC), len(data))] = rng.randrange(256)
        mangled.append(bytes(data))
    outcomes = {"decoded": 0, "refused": 0}
    for data in mangled:
        try:
            assert isinstance(decode_body(data, ("apps/v1", "Deployment")), dict)
            outcomes["decoded"] += 1
        except BadRequest:
            outcomes["refused"] += 1
    assert outcomes["decoded"] and outcomes["refused"]


def test_encode_body_round_trips_and_leaves_its_input_alone() -> None:
    obj = copy.deepcopy(RICH_DEPLOYMENT)
    body = encode_body(obj)
    assert obj == RICH_DEPLOYMENT
    assert body.startswith(MAGIC)
    assert decode_body(body) == RICH_DEPLOYMENT
