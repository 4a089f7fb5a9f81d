"""The official `kubernetes` Python client (37.x, pydantic models) against the live apiserver on a live etcd.

Every call below deserialises the server's answer into the client's typed
models: a missing required field, a wrongly typed value or an unparsable
timestamp fails the test with a pydantic ValidationError.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

MERGE = "application/merge-patch+json"


@pytest.fixture
def api_client(apiserver: Any) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    configuration.host = apiserver.url
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def pod_model(name: str, labels: dict[str, str] | None = None, image: str = "busybox:1.36") -> client.V1Pod:
    return client.V1Pod(
        api_version="v1", kind="Pod",
        metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": "web"}),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="main", image=image, command=["sleep", "3600"],
            ports=[client.V1ContainerPort(container_port=8080, name="http")],
            env=[client.V1EnvVar(name="MODE", value="test")])]))


def deployment_body(name: str, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                                                           "ports": [{"containerPort": 80}]}]}}}}


def status_of(err: ApiException) -> dict[str, Any]:
    assert err.headers is not None and err.headers["Content-Type"].startswith("application/json")
    body = json.loads(err.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == err.status, body
    return body


def assert_meta(meta: client.V1ObjectMeta, name: str, namespace: str | None) -> None:
    assert meta.name == name and meta.namespace == namespace
    assert isinstance(meta.resource_version, str) and int(meta.resource_version) > 0
    assert isinstance(meta.uid, str) and len(meta.uid) == 36
    assert isinstance(meta.creation_timestamp, datetime) and meta.creation_timestamp.tzinfo is not None


# -- Namespace -----------------------------------------------------------------------------


def test_namespace_crud(core: client.CoreV1Api, namespace: str) -> None:
    name = f"{namespace}-py"
    created = core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name, "labels": {"suite": "py"}}})
    try:
        assert isinstance(created, client.V1Namespace)
        assert_meta(created.metadata, name, None)
        assert created.status.phase == "Active"
        assert created.metadata.labels == {"suite": "py", "kubernetes.io/metadata.name": name}
        read = core.read_namespace(name)
        assert read.metadata.uid == created.metadata.uid
        listed = core.list_namespace(label_selector="suite=py")
        assert isinstance(listed, client.V1NamespaceList)
        assert name in [ns.metadata.name for ns in listed.items]
        assert isinstance(listed.metadata.resource_version, str)
        read.metadata.labels["replaced"] = "yes"
        replaced = core.replace_namespace(name, read)
        assert replaced.metadata.labels["replaced"] == "yes"
        assert int(replaced.metadata.resource_version) > int(read.metadata.resource_version)
        patched = core.patch_namespace(name, {"metadata": {"annotations": {"note": "patched"}}})
        assert patched.metadata.annotations == {"note": "patched"} and patched.metadata.labels["replaced"] == "yes"
    finally:
        core.delete_namespace(name)
    # the namespace finalizer keeps it, Terminating, until its contents are gone
    terminating = core.read_namespace(name)
    assert terminating.status.phase == "Terminating" and terminating.metadata.deletion_timestamp is not None


# -- Pod -----------------------------------------------------------------------------------


def test_pod_crud(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_pod(namespace, pod_model("p1"))
    assert isinstance(created, client.V1Pod)
    assert_meta(created.metadata, "p1", namespace)
    assert created.spec.restart_policy == "Always" and created.spec.termination_grace_period_seconds == 30
    assert created.spec.containers[0].ports[0].container_port == 8080
    assert created.spec.containers[0].ports[0].protocol == "TCP"
    assert created.status.phase == "Pending"

    read = core.read_namespaced_pod("p1", namespace)
    assert read.metadata.resource_version == created.metadata.resource_version
    assert read.spec.containers[0].env[0].value == "test"

    read.metadata.labels["tier"] = "db"
    replaced = core.replace_namespaced_pod("p1", namespace, read)
    assert replaced.metadata.labels == {"app": "web", "tier": "db"}

    # a replace with the old resourceVersion is a 409 Conflict
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_pod("p1", namespace, read)
    assert stale.value.status == 409 and status_of(stale.value)["reason"] == "Conflict"

    # strategic merge (the client's default for a dict): containers merged by name
    patched = core.patch_namespaced_pod("p1", namespace, {"spec": {"containers": [
        {"name": "main", "image": "busybox:1.37"}]}, "metadata": {"annotations": {"a": "1"}}})
    assert patched.spec.containers[0].image == "busybox:1.37"
    assert patched.spec.containers[0].env[0].name == "MODE"
    assert patched.metadata.annotations == {"a": "1"}
    # JSON patch: a list body
    patched = core.patch_namespaced_pod("p1", namespace, [{"op": "add", "path": "/metadata/labels/via", "value": "jp"}])
    assert patched.metadata.labels["via"] == "jp"
    # merge patch, chosen explicitly
    patched = core.patch_namespaced_pod("p1", namespace, {"metadata": {"labels": {"via": None}}},
                                        _content_type=MERGE)
    assert "via" not in patched.metadata.labels

    status = core.patch_namespaced_pod_status("p1", namespace, {"status": {
        "phase": "Running", "podIP": "10.244.1.5", "hostIP": "192.168.1.10", "startTime": "2025-01-01T00:00:00Z",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:01Z"}],
        "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "image": "busybox:1.37",
                               "imageID": "docker://sha256:abc", "started": True,
                               "state": {"running": {"startedAt": "2025-01-01T00:00:01Z"}}}]}})
    assert status.status.phase == "Running" and status.status.pod_ip == "10.244.1.5"
    assert status.status.container_statuses[0].state.running.started_at.year == 2025
    assert status.status.conditions[0].type == "Ready"
    assert core.read_namespaced_pod_status("p1", namespace).status.phase == "Running"

    deleted = core.delete_namespaced_pod("p1", namespace)
    assert isinstance(deleted, client.V1Pod) and deleted.metadata.name == "p1"
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("p1", namespace)
    assert gone.value.status == 404


def test_not_found_and_already_exists(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("ghost", namespace)
    assert missing.value.status == 404
    body = status_of(missing.value)
    assert body["reason"] == "NotFound" and body["message"] == 'pods "ghost" not found'
    assert body["details"] == {"name": "ghost", "kind": "pods"}
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("ghost", namespace)
    assert missing.value.status == 404
    assert status_of(missing.value)["message"] == 'deployments.apps "ghost" not found'
    with pytest.raises(ApiException) as missing:
        core.delete_namespaced_config_map("ghost", namespace)
    assert missing.value.status == 404

    core.create_namespaced_pod(namespace, pod_model("twice"))
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_pod(namespace, pod_model("twice"))
    assert duplicate.value.status == 409
    body = status_of(duplicate.value)
    assert body["reason"] == "AlreadyExists" and body["message"] == 'pods "twice" already exists'

    with pytest.raises(ApiException) as nowhere:
        core.create_namespaced_pod("no-such-namespace-here", pod_model("p"))
    assert nowhere.value.status == 404 and status_of(nowhere.value)["details"]["kind"] == "namespaces"


def test_invalid_object_is_422_naming_the_field(core: client.CoreV1Api, namespace: str) -> None:
    bad = pod_model("Bad_Name")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, bad)
    assert err.value.status == 422
    body = status_of(err.value)
    assert body["reason"] == "Invalid"
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.name"]
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-image"},
            "spec": {"containers": [{"name": "main"}]}}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(namespace, body)
    assert err.value.status == 422
    assert status_of(err.value)["details"]["causes"][0]["field"] == "spec.containers[0].image"


def test_list_with_label_and_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, labels in (("a1", {"app": "a"}), ("a2", {"app": "a", "tier": "db"}), ("b1", {"app": "b"})):
        core.create_namespaced_pod(namespace, pod_model(name, labels))

    def names(**kwargs: Any) -> list[str]:
        result = core.list_namespaced_pod(namespace, **kwargs)
        assert isinstance(result, client.V1PodList)
        assert all(isinstance(p, client.V1Pod) for p in result.items)
        return [p.metadata.name for p in result.items]

    assert names() == ["a1", "a2", "b1"]
    assert names(label_selector="app=a") == ["a1", "a2"]
    assert names(label_selector="app=a,tier!=db") == ["a1"]
    assert names(label_selector="tier") == ["a2"]
    assert names(label_selector="app notin (a)") == ["b1"]
    assert names(field_selector="metadata.name=b1") == ["b1"]
    assert names(field_selector="status.phase=Pending", label_selector="app=a") == ["a1", "a2"]
    assert names(field_selector="status.phase=Running") == []
    everywhere = core.list_pod_for_all_namespaces(label_selector="app=a",
                                                  field_selector=f"metadata.namespace={namespace}")
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [(namespace, "a1"), (namespace, "a2")]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(namespace, field_selector="spec.nonsense=1")
    assert err.value.status == 400
    # pagination
    first = core.list_namespaced_pod(namespace, limit=2)
    assert [p.metadata.name for p in first.items] == ["a1", "a2"]
    assert first.metadata._continue and first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_pod(namespace, limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["b1"] and not rest.metadata._continue


# -- Service, ConfigMap, Secret --------------------------------------------------------------


def test_service_crud(core: client.CoreV1Api, namespace: str) -> None:
    body = client.V1Service(api_version="v1", kind="Service", metadata=client.V1ObjectMeta(name="web"),
                            spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[
                                client.V1ServicePort(name="http", port=80, target_port=8080)]))
    created = core.create_namespaced_service(namespace, body)
    assert isinstance(created, client.V1Service)
    assert_meta(created.metadata, "web", namespace)
    assert created.spec.type == "ClusterIP" and created.spec.session_affinity == "None"
    assert created.spec.ports[0].protocol == "TCP" and created.spec.ports[0].target_port == 8080
    read = core.read_namespaced_service("web", namespace)
    read.spec.selector = {"app": "web", "track": "stable"}
    replaced = core.replace_namespaced_service("web", namespace, read)
    assert replaced.spec.selector == {"app": "web", "track": "stable"}
    patched = core.patch_namespaced_service("web", namespace, {"spec": {"ports": [
        {"name": "metrics", "port": 9090, "targetPort": "metrics"}]}})
    assert [(p.name, p.port) for p in patched.spec.ports] == [("metrics", 9090), ("http", 80)]
    assert patched.spec.ports[0].target_port == "metrics"
    listed = core.list_namespaced_service(namespace, field_selector="metadata.name=web")
    assert [s.metadata.name for s in listed.items] == ["web"]
    deleted = core.delete_namespaced_service("web", namespace)
    assert isinstance(deleted, client.V1Service) and deleted.metadata.name == "web"
    assert core.list_namespaced_service(namespace).items == []


def test_configmap_crud(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cfg", labels={"app": "web"}), data={"color": "blue"},
        binary_data={"blob": base64.b64encode(b"\x00\x01").decode()}))
    assert isinstance(created, client.V1ConfigMap)
    assert_meta(created.metadata, "cfg", namespace)
    assert created.data == {"color": "blue"} and base64.b64decode(created.binary_data["blob"]) == b"\x00\x01"
    read = core.read_namespaced_config_map("cfg", namespace)
    read.data["size"] = "xl"
    assert core.replace_namespaced_config_map("cfg", namespace, read).data == {"color": "blue", "size": "xl"}
    patched = core.patch_namespaced_config_map("cfg", namespace, {"data": {"color": None, "shape": "round"}},
                                               _content_type=MERGE)
    assert patched.data == {"size": "xl", "shape": "round"}
    listed = core.list_namespaced_config_map(namespace, label_selector="app=web")
    assert isinstance(listed, client.V1ConfigMapList) and [c.metadata.name for c in listed.items] == ["cfg"]
    status = core.delete_namespaced_config_map("cfg", namespace)  # typed `object`: the raw JSON
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "cfg" and status["details"]["kind"] == "configmaps"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("cfg", namespace)
    assert err.value.status == 404


def test_secret_crud(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds"), type="Opaque",
        data={"user": base64.b64encode(b"admin").decode()}, string_data={"password": "s3cret"}))
    assert isinstance(created, client.V1Secret)
    assert_meta(created.metadata, "creds", namespace)
    assert created.string_data is None  # write-only: folded into data
    assert {k: base64.b64decode(v) for k, v in created.data.items()} == {"user": b"admin", "password": b"s3cret"}
    read = core.read_namespaced_secret("creds", namespace)
    read.data["token"] = base64.b64encode(b"t").decode()
    replaced = core.replace_namespaced_secret("creds", namespace, read)
    assert sorted(replaced.data) == ["password", "token", "user"]
    patched = core.patch_namespaced_secret("creds", namespace, {"stringData": {"user": "root"}})
    assert base64.b64decode(patched.data["user"]) == b"root"
    listed = core.list_namespaced_secret(namespace, field_selector="type=Opaque")
    assert [s.metadata.name for s in listed.items] == ["creds"]
    core.delete_namespaced_secret("creds", namespace)
    assert core.list_namespaced_secret(namespace).items == []


# -- Deployment ---------------------------------------------------------------------------------


def test_deployment_crud_and_scale(apps: client.AppsV1Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment_body("web"))
    assert isinstance(created, client.V1Deployment)
    assert_meta(created.metadata, "web", namespace)
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.revision_history_limit == 10 and created.spec.progress_deadline_seconds == 600

    read = apps.read_namespaced_deployment("web", namespace)
    read.spec.template.spec.containers[0].image = "nginx:1.27"
    replaced = apps.replace_namespaced_deployment("web", namespace, read)
    assert replaced.spec.template.spec.containers[0].image == "nginx:1.27" and replaced.metadata.generation == 2

    patched = apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "DEBUG", "value": "1"}]}]}}}})
    container = patched.spec.template.spec.containers[0]
    assert container.image == "nginx:1.27" and container.env[0].name == "DEBUG"
    assert container.ports[0].container_port == 80

    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert isinstance(scale, client.V1Scale)
    assert scale.spec.replicas == 2 and scale.status.replicas == 0 and scale.status.selector == "app=web"
    scaled = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    assert isinstance(scaled, client.V1Scale) and scaled.spec.replicas == 3
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    scale.spec.replicas = 5
    assert apps.replace_namespaced_deployment_scale("web", namespace, scale).spec.replicas == 5
    with pytest.raises(ApiException) as stale:
        apps.replace_namespaced_deployment_scale("web", namespace, scale)  # stale resourceVersion
    assert stale.value.status == 409

    status = apps.patch_namespaced_deployment_status("web", namespace, {"status": {
        "observedGeneration": 3, "replicas": 5, "readyReplicas": 5, "availableReplicas": 5, "updatedReplicas": 5,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                        "lastUpdateTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}})
    assert status.status.available_replicas == 5 and status.status.conditions[0].type == "Available"
    assert apps.read_namespaced_deployment_scale("web", namespace).status.replicas == 5

    listed = apps.list_namespaced_deployment(namespace, label_selector="app=web")
    assert isinstance(listed, client.V1DeploymentList) and [d.metadata.name for d in listed.items] == ["web"]
    assert apps.list_deployment_for_all_namespaces(field_selector=f"metadata.namespace={namespace}").items

    deleted = apps.delete_namespaced_deployment("web", namespace)
    assert deleted["status"] == "Success" and deleted["details"]["name"] == "web"
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment_scale("web", namespace)
    assert err.value.status == 404


# -- watch ------------------------------------------------------------------------------------


def test_watch_sees_added_modified_deleted(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod_model("existing"))
    seen: list[tuple[str, str, str | None]] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, namespace, timeout_seconds=20, _request_timeout=30):
        obj = event["object"]
        assert isinstance(obj, client.V1Pod), event
        seen.append((event["type"], obj.metadata.name, obj.metadata.labels.get("step")))
        if seen[-1] == ("ADDED", "existing", None):
            core.create_namespaced_pod(namespace, pod_model("new"))
        elif seen[-1] == ("ADDED", "new", None):
            core.patch_namespaced_pod("new", namespace, {"metadata": {"labels": {"step": "2"}}})
        elif seen[-1] == ("MODIFIED", "new", "2"):
            core.delete_namespaced_pod("new", namespace)
        elif seen[-1][0] == "DELETED":
            w.stop()
    assert seen == [("ADDED", "existing", None), ("ADDED", "new", None), ("MODIFIED", "new", "2"),
                    ("DELETED", "new", "2")]
    assert w.resource_version is not None and int(w.resource_version) > 0


def test_watch_from_a_list_resource_version_sees_only_newer_events(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "old"}, "data": {"k": "v"}})
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "newer"}, "data": {"k": "v"}})
    w = watch.Watch()
    events = []
    for event in w.stream(core.list_namespaced_config_map, namespace,
                          resource_version=listed.metadata.resource_version, timeout_seconds=20,
                          _request_timeout=30):
        assert isinstance(event["object"], client.V1ConfigMap)
        events.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert events == [("ADDED", "newer")]


def test_watch_ends_when_timeout_seconds_pass(core: client.CoreV1Api, namespace: str) -> None:
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_pod, namespace, timeout_seconds=1,
                                       _request_timeout=15))
    assert events == []
    assert time.monotonic() - started < 10


def test_watch_a_deployment_by_field_selector(apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment_body("other"))
    apps.create_namespaced_deployment(namespace, deployment_body("watched"))
    w = watch.Watch()
    types = []
    for event in w.stream(apps.list_namespaced_deployment, namespace, field_selector="metadata.name=watched",
                          timeout_seconds=20, _request_timeout=30):
        deployment = event["object"]
        assert isinstance(deployment, client.V1Deployment) and deployment.metadata.name == "watched"
        types.append((event["type"], deployment.spec.replicas))
        if event["type"] == "ADDED":
            apps.patch_namespaced_deployment_scale("other", namespace, {"spec": {"replicas": 4}})
            apps.patch_namespaced_deployment_scale("watched", namespace, {"spec": {"replicas": 4}})
        else:
            w.stop()
    assert types == [("ADDED", 2), ("MODIFIED", 4)]


# -- dynamic client --------------------------------------------------------------------------------


def test_dynamic_client_discovery_and_get(api_client: client.ApiClient, apps: client.AppsV1Api,
                                          namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment_body("dyn", replicas=3))
    dyn = DynamicClient(api_client)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"
    assert "deploy" in deployments.short_names
    listed = deployments.get(namespace=namespace)
    assert listed.kind == "DeploymentList" and [d.metadata.name for d in listed.items] == ["dyn"]
    one = deployments.get(name="dyn", namespace=namespace)
    assert one.spec.replicas == 3 and one.metadata.labels.app == "dyn"
    scale = deployments.subresources["scale"]
    assert scale.get(name="dyn", namespace=namespace).spec.replicas == 3
    patched = deployments.patch(name="dyn", namespace=namespace, body={"metadata": {"labels": {"via": "dynamic"}}},
                                content_type=MERGE)
    assert patched.metadata.labels.via == "dynamic"
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    created = pods.create(body=api_client.sanitize_for_serialization(pod_model("dyn-pod")),
                          namespace=namespace)
    assert created.metadata.name == "dyn-pod"
    assert [p.metadata.name for p in pods.get(namespace=namespace, label_selector="app=web").items] == ["dyn-pod"]
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    assert not namespaces.namespaced
    assert namespaces.get(name=namespace).status.phase == "Active"
    with pytest.raises(NotFoundError):
        deployments.get(name="ghost", namespace=namespace)
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version="apps/v1", kind="Widget")
    assert {r.kind for r in dyn.resources.search(group="apps")} >= {"Deployment", "ReplicaSet", "StatefulSet"}


def test_version_and_discovery_helpers(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert isinstance(info, client.VersionInfo) and info.major == "1" and info.git_version.startswith("v1.")
    groups = client.ApisApi(api_client).get_api_versions()
    assert isinstance(groups, client.V1APIGroupList)
    assert {"apps", "batch"} <= {g.name for g in groups.groups}
    resources = client.CoreV1Api(api_client).get_api_resources()
    assert isinstance(resources, client.V1APIResourceList)
    pods = next(r for r in resources.resources if r.name == "pods")
    assert pods.kind == "Pod" and pods.namespaced and pods.short_names == ["po"] and "watch" in pods.verbs
    apps_resources = client.AppsV1Api(api_client).get_api_resources()
    scale = next(r for r in apps_resources.resources if r.name == "deployments/scale")
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")


def test_events_by_involved_object(core: client.CoreV1Api, namespace: str) -> None:
    pod = core.create_namespaced_pod(namespace, pod_model("evented"))
    involved = client.V1ObjectReference(kind="Pod", api_version="v1", namespace=namespace, name="evented",
                                        uid=pod.metadata.uid)
    created = core.create_namespaced_event(namespace, client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="evented.1"), involved_object=involved, reason="Scheduled",
        message="assigned to node-1", type="Normal", count=1,
        source=client.V1EventSource(component="default-scheduler"),
        first_timestamp=datetime(2025, 1, 1, tzinfo=pod.metadata.creation_timestamp.tzinfo),
        last_timestamp=datetime(2025, 1, 1, tzinfo=pod.metadata.creation_timestamp.tzinfo)))
    assert isinstance(created, client.CoreV1Event) and created.involved_object.uid == pod.metadata.uid
    assert created.first_timestamp.year == 2025
    core.create_namespaced_event(namespace, {"metadata": {"name": "other.1"}, "reason": "Pulled", "type": "Normal",
                                             "involvedObject": {"kind": "Pod", "namespace": namespace,
                                                                "name": "other"}})
    selector = (f"involvedObject.name=evented,involvedObject.namespace={namespace},"
                f"involvedObject.uid={pod.metadata.uid}")
    listed = core.list_namespaced_event(namespace, field_selector=selector)
    assert isinstance(listed, client.CoreV1EventList)
    assert [(e.metadata.name, e.reason) for e in listed.items] == [("evented.1", "Scheduled")]
    assert [e.metadata.name for e in core.list_namespaced_event(namespace, field_selector="reason=Pulled").items] == \
        ["other.1"]
