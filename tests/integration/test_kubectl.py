"""The real kubectl (1.33 and 1.37, from PyPI wheels) against the live apiserver on a live etcd.

Every test runs with both kubectl versions: they differ in how they wait
(≤1.34 list+watch, ≥1.35 WatchList with sendInitialEvents) and in some
messages.  Each test has its own kubeconfig (context namespace = the test's
namespace) and its own discovery cache directory.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from common import kubeconfig
from kubectl_harness import Kubectl, Stream

VERSIONS = ("1.33", "1.37")


# -- harness ----------------------------------------------------------------------


@pytest.fixture(params=VERSIONS, ids=[f"kubectl-{v}" for v in VERSIONS])
def kubectl(request: pytest.FixtureRequest, kubectl_dir: Path, apiserver: Any, namespace: str,
            tmp_path: Path) -> Kubectl:
    version = request.param
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, apiserver.url, namespace=namespace)
    return Kubectl(kubectl_dir / f"kubectl-{version}", config, tmp_path / "cache", namespace, version)


@pytest.fixture
def streams() -> Iterator[list[Stream]]:
    """Long-running kubectl processes a test started; killed at teardown whatever happens."""
    started: list[Stream] = []
    yield started
    for stream in started:
        stream.stop()


# -- manifests --------------------------------------------------------------------


def pod(name: str, *, labels: dict[str, str] | None = None, finalizers: list[str] | None = None,
        image: str = "busybox:1.36") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {"app": "web"}}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]}}


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    labels = {"app": name}
    containers = [{"name": "web", "image": image, "ports": [{"containerPort": 80}],
                   "env": [{"name": "MODE", "value": "prod"}]},
                  {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "infinity"]}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}}}}


def configmap(name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def write_manifest(path: Path, *objects: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(objects))
    return str(path)


def table_rows(output: str) -> list[list[str]]:
    """`kubectl get` columns split on runs of 2+ spaces (cells such as `0/1` have no double spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def get_obj(http: httpx.Client, path: str) -> dict[str, Any]:
    resp = http.get(path)
    assert resp.status_code == 200, resp.text
    return resp.json()


def pods_path(ns: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods" + (f"/{name}" if name else "")


def deploy_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "")


def watching(stream: Stream, kubectl: Kubectl) -> str:
    """Wait until kubectl (run with -v=6) has its watch answered: WatchList from 1.35 on, list+watch before."""
    line = stream.expect_stderr(lambda l: '"Response"' in l and "watch=true" in l)
    assert 'status="200 OK"' in line, line
    if kubectl.minor >= 35:
        assert "sendInitialEvents=true" in line and "resourceVersionMatch=NotOlderThan" in line, line
    else:
        assert "sendInitialEvents" not in line and "resourceVersion=" in line, line
    return line


def deleted_message(kubectl: Kubectl, resource: str, name: str) -> str:
    """1.33 prints `pod "x" deleted`; newer kubectl adds `from <ns> namespace`."""
    if kubectl.minor >= 35:
        return f'{resource} "{name}" deleted from {kubectl.namespace} namespace'
    return f'{resource} "{name}" deleted'


# -- get ---------------------------------------------------------------------------


def test_get_empty_namespace_says_no_resources(kubectl: Kubectl) -> None:
    result = kubectl.run("get", "pods")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"No resources found in {kubectl.namespace} namespace."


def test_get_pods_prints_the_server_table(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(pod("alpha"), pod("beta"))
    rows = table_rows(kubectl.ok("get", "pods"))
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [r[:4] for r in rows[1:]] == [["alpha", "0/1", "Pending", "0"], ["beta", "0/1", "Pending", "0"]]
    assert all(re.fullmatch(r"\d+s", r[4]) for r in rows[1:]), rows
    # short name and a single object
    rows = table_rows(kubectl.ok("get", "po", "beta"))
    assert [r[0] for r in rows] == ["NAME", "beta"]


def test_get_other_kinds_by_short_name(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(deployment("web", replicas=3), configmap("settings", {"a": "1", "b": "2"}))
    rows = table_rows(kubectl.ok("get", "deploy"))
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:4] == ["web", "0/3", "0", "0"]
    rows = table_rows(kubectl.ok("get", "cm", "settings"))
    assert rows[0] == ["NAME", "DATA", "AGE"] and rows[1][:2] == ["settings", "2"]
    rows = table_rows(kubectl.ok("get", "ns", kubectl.namespace))
    assert rows[0] == ["NAME", "STATUS", "AGE"] and rows[1][:2] == [kubectl.namespace, "Active"]
    rows = table_rows(kubectl.ok("get", "deployments.apps", "-o", "wide"))
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[1][5:] == ["web,sidecar", "nginx:1.25,busybox:1.36", "app=web"]


def test_get_output_formats(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(pod("alpha", labels={"app": "web", "tier": "front"}))
    as_yaml = yaml.safe_load(kubectl.ok("get", "pod", "alpha", "-o", "yaml"))
    assert as_yaml["kind"] == "Pod" and as_yaml["metadata"]["name"] == "alpha"
    assert as_yaml["metadata"]["namespace"] == kubectl.namespace
    assert as_yaml["spec"]["containers"][0]["image"] == "busybox:1.36"
    as_json = json.loads(kubectl.ok("get", "pods", "-o", "json"))
    assert as_json["kind"] == "List" and [i["metadata"]["name"] for i in as_json["items"]] == ["alpha"]
    assert as_json["items"][0]["metadata"]["uid"] == as_yaml["metadata"]["uid"]
    assert kubectl.ok("get", "pods", "-o", "name").split() == ["pod/alpha"]
    rows = table_rows(kubectl.ok("get", "pods", "-o", "wide"))
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                       "READINESS GATES"]
    assert rows[1][0] == "alpha" and rows[1][5:] == ["<none>"] * 4
    jsonpath = kubectl.ok("get", "pod", "alpha", "-o", "jsonpath={.metadata.labels.tier}")
    assert jsonpath == "front"


def test_get_with_label_and_field_selectors(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(pod("a1", labels={"app": "a"}), pod("a2", labels={"app": "a", "tier": "db"}),
                       pod("b1", labels={"app": "b"}))
    assert kubectl.ok("get", "pods", "-l", "app=a", "-o", "name").split() == ["pod/a1", "pod/a2"]
    assert kubectl.ok("get", "pods", "-l", "app in (a,b),!tier", "-o", "name").split() == ["pod/a1", "pod/b1"]
    assert kubectl.ok("get", "pods", "--field-selector", "metadata.name=b1", "-o", "name").split() == ["pod/b1"]
    assert kubectl.ok("get", "pods", "--field-selector", "status.phase=Pending,metadata.name!=a1",
                      "-o", "name").split() == ["pod/a2", "pod/b1"]
    rows = table_rows(kubectl.ok("get", "pods", "-l", "app=b"))
    assert [r[0] for r in rows] == ["NAME", "b1"]
    empty = kubectl.run("get", "pods", "-l", "app=nothing")
    assert empty.returncode == 0 and empty.stderr.strip() == f"No resources found in {kubectl.namespace} namespace."
    bad = kubectl.fails("get", "pods", "--field-selector", "spec.nonsense=1")
    assert "field label not supported: spec.nonsense" in bad


def test_get_all_namespaces_fills_namespace_column(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(pod("alpha"), pod("beta"))
    rows = table_rows(kubectl.ok("get", "pods", "-A"))
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    mine = [r for r in rows[1:] if r[0] == kubectl.namespace]
    assert [r[1] for r in mine] == ["alpha", "beta"]
    assert all(r[0] for r in rows[1:]), rows  # no row with a blank NAMESPACE
    namespaces = table_rows(kubectl.ok("get", "ns"))
    assert {"default", "kube-system", kubectl.namespace} <= {r[0] for r in namespaces[1:]}


def test_get_show_labels(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(pod("alpha", labels={"app": "web", "tier": "front"}))
    rows = table_rows(kubectl.ok("get", "pods", "--show-labels"))
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert rows[1][0] == "alpha" and rows[1][-1] == "app=web,tier=front"
    rows = table_rows(kubectl.ok("get", "pods", "-L", "tier"))
    assert rows[0][-1] == "TIER" and rows[1][-1] == "front"


def test_get_not_found(kubectl: Kubectl) -> None:
    err = kubectl.fails("get", "pod", "ghost")
    assert err.strip() == 'Error from server (NotFound): pods "ghost" not found'
    err = kubectl.fails("get", "deploy", "ghost")
    assert err.strip() == 'Error from server (NotFound): deployments.apps "ghost" not found'
    err = kubectl.fails("get", "widgets")
    assert 'the server doesn\'t have a resource type "widgets"' in err


# -- watch -------------------------------------------------------------------------


def test_get_watch_prints_rows_for_changes(kubectl: Kubectl, http: httpx.Client, streams: list[Stream]) -> None:
    kubectl.apply_yaml(pod("first"))
    watch = kubectl.start("get", "pods", "-w")
    streams.append(watch)
    assert table_rows(watch.next_line())[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert watch.next_line().split()[:3] == ["first", "0/1", "Pending"]
    kubectl.apply_yaml(pod("second"))
    assert watch.next_line().split()[:3] == ["second", "0/1", "Pending"]
    # a status change arrives as a new row for the same pod
    resp = http.patch(pods_path(kubectl.namespace, "second") + "/status",
                      content=json.dumps({"status": {"phase": "Running"}}),
                      headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    assert watch.next_line().split()[:3] == ["second", "0/1", "Running"]
    kubectl.ok("delete", "pod", "first", "--wait=false")
    assert watch.next_line().split()[0] == "first"
    assert watch.proc.poll() is None  # still watching


def test_get_watch_output_watch_events_json(kubectl: Kubectl, http: httpx.Client, streams: list[Stream]) -> None:
    kubectl.apply_yaml(configmap("before"))
    watch = kubectl.start("get", "configmaps", "-w", "--output-watch-events", "-o", "json")
    streams.append(watch)
    events = watch.json_events()
    first = next(events)
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "before"
    assert first["object"]["kind"] == "ConfigMap" and first["object"]["data"] == {"k": "v"}
    kubectl.apply_yaml(configmap("later", {"x": "1"}))
    event = next(events)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "later")
    kubectl.ok("label", "configmap", "later", "seen=yes")
    event = next(events)
    assert event["type"] == "MODIFIED" and event["object"]["metadata"]["labels"] == {"seen": "yes"}
    kubectl.ok("delete", "configmap", "later")
    event = next(events)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("DELETED", "later")
    # a watch of a single object by name
    single = kubectl.start("get", "configmap", "before", "-w", "-o", "name")
    streams.append(single)
    assert single.next_line() == "configmap/before"
    kubectl.ok("annotate", "configmap", "before", "note=hello")
    assert single.next_line() == "configmap/before"


# -- apply / create -----------------------------------------------------------------


def test_apply_created_unchanged_configured(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    manifest = deployment("web", replicas=2)
    path = write_manifest(tmp_path / "web.yaml", manifest)
    assert kubectl.ok("apply", "-f", path).strip() == "deployment.apps/web created"
    first = get_obj(http, deploy_path(kubectl.namespace, "web"))
    assert kubectl.ok("apply", "-f", path).strip() == "deployment.apps/web unchanged"
    assert get_obj(http, deploy_path(kubectl.namespace, "web"))["metadata"]["resourceVersion"] == \
        first["metadata"]["resourceVersion"]
    manifest["spec"]["replicas"] = 4
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    manifest["metadata"]["labels"]["team"] = "blue"
    write_manifest(tmp_path / "web.yaml", manifest)
    assert kubectl.ok("apply", "-f", path).strip() == "deployment.apps/web configured"
    server = get_obj(http, deploy_path(kubectl.namespace, "web"))
    assert server["spec"]["replicas"] == 4
    containers = server["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["nginx:1.27", "busybox:1.36"]
    assert containers[0]["env"] == [{"name": "MODE", "value": "prod"}]  # merged by name, not replaced
    assert server["metadata"]["labels"] == {"app": "web", "team": "blue"}
    assert server["metadata"]["generation"] == 2
    last_applied = json.loads(server["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["spec"]["replicas"] == 4 and last_applied["metadata"]["labels"]["team"] == "blue"
    # removing a field from the manifest removes it from the server (three-way merge)
    del manifest["metadata"]["labels"]["team"]
    write_manifest(tmp_path / "web.yaml", manifest)
    assert kubectl.ok("apply", "-f", path).strip() == "deployment.apps/web configured"
    assert get_obj(http, deploy_path(kubectl.namespace, "web"))["metadata"]["labels"] == {"app": "web"}


def test_apply_several_kinds_from_one_file(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "all.yaml", configmap("cfg"), pod("worker"), deployment("api"))
    assert kubectl.ok("apply", "-f", path).splitlines() == [
        "configmap/cfg created", "pod/worker created", "deployment.apps/api created"]
    assert kubectl.ok("apply", "-f", path).splitlines() == [
        "configmap/cfg unchanged", "pod/worker unchanged", "deployment.apps/api unchanged"]


def test_apply_server_side(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    manifest = configmap("ssa", {"one": "1"})
    path = write_manifest(tmp_path / "cm.yaml", manifest)
    assert kubectl.ok("apply", "--server-side", "-f", path).strip() == "configmap/ssa serverside-applied"
    assert get_obj(http, f"/api/v1/namespaces/{kubectl.namespace}/configmaps/ssa")["data"] == {"one": "1"}
    manifest["data"]["two"] = "2"
    write_manifest(tmp_path / "cm.yaml", manifest)
    assert kubectl.ok("apply", "--server-side", "-f", path).strip() == "configmap/ssa serverside-applied"
    assert get_obj(http, f"/api/v1/namespaces/{kubectl.namespace}/configmaps/ssa")["data"] == {"one": "1", "two": "2"}
    deploy = deployment("ssa-web", replicas=1)
    assert kubectl.ok("apply", "--server-side", "-f", "-", input=yaml.safe_dump(deploy)).strip() == \
        "deployment.apps/ssa-web serverside-applied"
    deploy["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    kubectl.ok("apply", "--server-side", "-f", "-", input=yaml.safe_dump(deploy))
    server = get_obj(http, deploy_path(kubectl.namespace, "ssa-web"))
    assert [c["image"] for c in server["spec"]["template"]["spec"]["containers"]] == ["nginx:1.27", "busybox:1.36"]
    assert server["metadata"]["generation"] == 2


def test_apply_server_side_removes_fields_dropped_from_the_manifest(kubectl: Kubectl, http: httpx.Client,
                                                                    tmp_path: Path) -> None:
    """Server-side apply owns the fields a manager applied: applying again without one removes it (upstream)."""
    manifest = configmap("owned", {"one": "1", "two": "2"})
    path = write_manifest(tmp_path / "cm.yaml", manifest)
    kubectl.ok("apply", "--server-side", "-f", path)
    del manifest["data"]["two"]
    write_manifest(tmp_path / "cm.yaml", manifest)
    assert kubectl.ok("apply", "--server-side", "-f", path).strip() == "configmap/owned serverside-applied"
    assert get_obj(http, f"/api/v1/namespaces/{kubectl.namespace}/configmaps/owned")["data"] == {"one": "1"}


def test_apply_dry_run_server_changes_nothing(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    manifest = deployment("dry", replicas=1)
    path = write_manifest(tmp_path / "d.yaml", manifest)
    assert kubectl.ok("apply", "--dry-run=server", "-f", path).strip() == \
        "deployment.apps/dry created (server dry run)"
    assert http.get(deploy_path(kubectl.namespace, "dry")).status_code == 404
    kubectl.ok("apply", "-f", path)
    before = get_obj(http, deploy_path(kubectl.namespace, "dry"))
    manifest["spec"]["replicas"] = 7
    write_manifest(tmp_path / "d.yaml", manifest)
    assert kubectl.ok("apply", "--dry-run=server", "-f", path).strip() == \
        "deployment.apps/dry configured (server dry run)"
    after = get_obj(http, deploy_path(kubectl.namespace, "dry"))
    assert after["spec"]["replicas"] == 1
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    diff = kubectl.run("diff", "-f", path)
    assert diff.returncode == 1, diff.stderr  # 1 = differences found
    assert re.search(r"^-  replicas: 1$", diff.stdout, re.M) and re.search(r"^\+  replicas: 7$", diff.stdout, re.M)


def test_create_from_file_and_duplicate(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "pod.yaml", pod("once"))
    assert kubectl.ok("create", "-f", path).strip() == "pod/once created"
    created = get_obj(http, pods_path(kubectl.namespace, "once"))
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (created["metadata"].get("annotations") or {})
    err = kubectl.fails("create", "-f", path)
    assert err.strip() == f'Error from server (AlreadyExists): error when creating "{path}": pods "once" already exists'


def test_invalid_manifests_are_refused_with_the_field_named(kubectl: Kubectl, http: httpx.Client,
                                                            tmp_path: Path) -> None:
    bad_name = pod("Bad_Name")
    err = kubectl.fails("create", "-f", write_manifest(tmp_path / "bad-name.yaml", bad_name))
    # kubectl words a 422 Invalid Status as `The <kind> "<name>" is invalid: <causes>`
    assert err.startswith('The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                          'a lowercase RFC 1123 subdomain'), err
    no_image = pod("no-image")
    del no_image["spec"]["containers"][0]["image"]
    err = kubectl.fails("apply", "-f", write_manifest(tmp_path / "no-image.yaml", no_image))
    assert err.strip() == 'The Pod "no-image" is invalid: spec.containers[0].image: Required value', err
    unknown = pod("unknown-field")
    unknown["spec"]["containers"][0]["imagePolicy"] = "Always"
    path = write_manifest(tmp_path / "unknown.yaml", unknown)
    err = kubectl.fails("create", "-f", path)
    assert err.strip() == (f'Error from server (BadRequest): error when creating "{path}": Pod in version "v1" '
                           'cannot be handled as a Pod: strict decoding error: unknown field '
                           '"spec.containers[0].imagePolicy"')
    # --validate=false sends fieldValidation=Ignore: the unknown field is dropped and the pod created
    assert kubectl.ok("create", "--validate=false", "-f", path).strip() == "pod/unknown-field created"
    created = get_obj(http, pods_path(kubectl.namespace, "unknown-field"))
    assert "imagePolicy" not in created["spec"]["containers"][0]
    assert http.get(pods_path(kubectl.namespace, "Bad_Name")).status_code == 404
    assert http.get(pods_path(kubectl.namespace, "no-image")).status_code == 404


def test_apply_of_an_unknown_field_to_an_existing_object_is_refused(kubectl: Kubectl, http: httpx.Client,
                                                                    tmp_path: Path) -> None:
    """kubectl PATCHes with fieldValidation=Strict: the server must refuse, not just warn (upstream: 400)."""
    manifest = deployment("strict")
    path = write_manifest(tmp_path / "d.yaml", manifest)
    kubectl.ok("apply", "-f", path)
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    write_manifest(tmp_path / "d.yaml", manifest)
    before = get_obj(http, deploy_path(kubectl.namespace, "strict"))
    err = kubectl.fails("apply", "-f", path)
    assert "Error from server (BadRequest)" in err
    assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagePolicy"' in err
    after = get_obj(http, deploy_path(kubectl.namespace, "strict"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


# -- generator subcommands (protobuf request bodies) ---------------------------------


def test_create_namespace_generator(kubectl: Kubectl, http: httpx.Client) -> None:
    name = f"{kubectl.namespace}-gen"
    try:
        assert kubectl.ok("create", "namespace", name).strip() == f"namespace/{name} created"
        assert get_obj(http, f"/api/v1/namespaces/{name}")["status"]["phase"] == "Active"
    finally:
        http.delete(f"/api/v1/namespaces/{name}")


def test_create_deployment_generator(kubectl: Kubectl, http: httpx.Client) -> None:
    out = kubectl.ok("create", "deployment", "gen", "--image=nginx:1.25", "--replicas=2", "--port=80")
    assert out.strip() == "deployment.apps/gen created"
    server = get_obj(http, deploy_path(kubectl.namespace, "gen"))
    assert server["spec"]["replicas"] == 2
    assert server["spec"]["selector"] == {"matchLabels": {"app": "gen"}}
    container = server["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.25" and container["ports"][0]["containerPort"] == 80


def test_create_configmap_generator(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("from a file\n")
    out = kubectl.ok("create", "configmap", "gen", "--from-literal=a=1", f"--from-file={tmp_path / 'file.txt'}")
    assert out.strip() == "configmap/gen created"
    data = get_obj(http, f"/api/v1/namespaces/{kubectl.namespace}/configmaps/gen")["data"]
    assert data == {"a": "1", "file.txt": "from a file\n"}


# -- delete ---------------------------------------------------------------------------


def test_delete_pod_deployment_and_by_file(kubectl: Kubectl, http: httpx.Client, tmp_path: Path) -> None:
    kubectl.apply_yaml(pod("doomed"), deployment("gone"))
    assert kubectl.ok("delete", "pod", "doomed").strip() == deleted_message(kubectl, "pod", "doomed")
    assert http.get(pods_path(kubectl.namespace, "doomed")).status_code == 404
    assert kubectl.ok("delete", "deploy", "gone").strip() == deleted_message(kubectl, "deployment.apps", "gone")
    assert http.get(deploy_path(kubectl.namespace, "gone")).status_code == 404
    path = write_manifest(tmp_path / "pair.yaml", configmap("c1"), pod("p1"))
    kubectl.ok("apply", "-f", path)
    assert kubectl.ok("delete", "-f", path).splitlines() == [
        deleted_message(kubectl, "configmap", "c1"), deleted_message(kubectl, "pod", "p1")]
    assert http.get(pods_path(kubectl.namespace, "p1")).status_code == 404
    err = kubectl.fails("delete", "pod", "doomed")
    assert err.strip() == 'Error from server (NotFound): pods "doomed" not found'
    kubectl.apply_yaml(pod("l1", labels={"batch": "x"}), pod("l2", labels={"batch": "x"}), pod("keep"))
    kubectl.ok("delete", "pods", "-l", "batch=x")
    assert kubectl.ok("get", "pods", "-o", "name").split() == ["pod/keep"]


def test_delete_waits_for_finalizers_then_returns(kubectl: Kubectl, http: httpx.Client,
                                                  streams: list[Stream]) -> None:
    """kubectl delete watches the object (1.37: WatchList) until it is really gone."""
    kubectl.apply_yaml(pod("held", finalizers=["example.com/hold"]))
    deleting = kubectl.start("delete", "pod", "held", "--timeout=30s", "-v=6")
    streams.append(deleting)
    watch = watching(deleting, kubectl)
    assert "fieldSelector=metadata.name%3Dheld" in watch, watch
    assert get_obj(http, pods_path(kubectl.namespace, "held"))["metadata"]["deletionTimestamp"]
    assert deleting.proc.poll() is None  # kubectl is still waiting on the finalizer
    out = kubectl.ok("patch", "pod", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert out.strip() == "pod/held patched"
    assert deleting.wait(20) == 0, deleting.stderr()
    assert deleting.remaining() == [deleted_message(kubectl, "pod", "held")]
    assert http.get(pods_path(kubectl.namespace, "held")).status_code == 404


def test_delete_finalized_pod_then_json_patch_the_finalizer_away(kubectl: Kubectl, http: httpx.Client) -> None:
    kubectl.apply_yaml(pod("held", finalizers=["example.com/a", "example.com/b"]))
    assert kubectl.ok("delete", "pod", "held", "--wait=false").strip() == deleted_message(kubectl, "pod", "held")
    meta = get_obj(http, pods_path(kubectl.namespace, "held"))["metadata"]
    assert meta["deletionTimestamp"] and meta["finalizers"] == ["example.com/a", "example.com/b"]
    kubectl.ok("patch", "pod", "held", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers/0"}]')
    assert get_obj(http, pods_path(kubectl.namespace, "held"))["metadata"]["finalizers"] == ["example.com/b"]
    kubectl.ok("patch", "pod", "held", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert http.get(pods_path(kubectl.namespace, "held")).status_code == 404


# -- wait -----------------------------------------------------------------------------


def test_wait_for_delete(kubectl: Kubectl, http: httpx.Client, streams: list[Stream]) -> None:
    kubectl.apply_yaml(pod("held", finalizers=["example.com/hold"]))
    kubectl.ok("delete", "pod", "held", "--wait=false")
    waiting = kubectl.start("wait", "--for=delete", "pod/held", "--timeout=20s", "-v=6")
    streams.append(waiting)
    watching(waiting, kubectl)
    assert waiting.proc.poll() is None
    resp = http.patch(pods_path(kubectl.namespace, "held"), content='{"metadata":{"finalizers":null}}',
                      headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    assert waiting.wait(25) == 0, waiting.stderr()
    assert waiting.remaining() == ["pod/held condition met"]


def test_wait_for_delete_times_out_while_finalizer_stays(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(pod("stuck", finalizers=["example.com/hold"]))
    kubectl.ok("delete", "pod", "stuck", "--wait=false")
    result = kubectl.run("wait", "--for=delete", "pod/stuck", "--timeout=2s")
    assert result.returncode != 0
    assert "timed out waiting for the condition on pods/stuck" in result.stderr
    kubectl.ok("patch", "pod", "stuck", "--type=merge", "-p", '{"metadata":{"finalizers":[]}}')


def test_wait_for_condition_set_through_status_subresource(kubectl: Kubectl, http: httpx.Client,
                                                           streams: list[Stream]) -> None:
    kubectl.apply_yaml(deployment("ready-web"))
    waiting = kubectl.start("wait", "--for=condition=Available", "deployment/ready-web", "--timeout=20s", "-v=6")
    streams.append(waiting)
    watching(waiting, kubectl)
    current = get_obj(http, deploy_path(kubectl.namespace, "ready-web"))
    current["status"] = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                         "updatedReplicas": 2,
                         "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                         "message": "Deployment has minimum availability.",
                                         "lastUpdateTime": "2025-01-01T00:00:00Z",
                                         "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
    resp = http.put(deploy_path(kubectl.namespace, "ready-web") + "/status", json=current)
    assert resp.status_code == 200, resp.text
    assert waiting.wait(25) == 0, waiting.stderr()
    assert waiting.remaining() == ["deployment.apps/ready-web condition met"]
    # already true: returns at once
    assert kubectl.ok("wait", "--for=condition=Available=True", "deploy/ready-web", "--timeout=5s").strip() == \
        "deployment.apps/ready-web condition met"


def test_wait_for_jsonpath_on_pod_phase(kubectl: Kubectl, http: httpx.Client, streams: list[Stream]) -> None:
    kubectl.apply_yaml(pod("runner"))
    waiting = kubectl.start("wait", "--for=jsonpath={.status.phase}=Running", "pod/runner", "--timeout=20s",
                            "-v=6")
    streams.append(waiting)
    watching(waiting, kubectl)
    resp = http.patch(pods_path(kubectl.namespace, "runner") + "/status",
                      content=json.dumps({"status": {"phase": "Running"}}),
                      headers={"Content-Type": "application/merge-patch+json"})
    assert resp.status_code == 200, resp.text
    assert waiting.wait(25) == 0, waiting.stderr()
    assert waiting.remaining() == ["pod/runner condition met"]
    result = kubectl.run("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/runner", "--timeout=1s")
    assert result.returncode != 0 and "timed out waiting for the condition" in result.stderr


def test_rollout_status_waits_for_the_rollout(kubectl: Kubectl, http: httpx.Client, streams: list[Stream]) -> None:
    kubectl.apply_yaml(deployment("roll", replicas=2))
    rollout = kubectl.start("rollout", "status", "deploy/roll", "--timeout=20s", "-v=6")
    streams.append(rollout)
    watching(rollout, kubectl)
    current = get_obj(http, deploy_path(kubectl.namespace, "roll"))
    current["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                         "availableReplicas": 2}
    resp = http.put(deploy_path(kubectl.namespace, "roll") + "/status", json=current)
    assert resp.status_code == 200, resp.text
    assert rollout.wait(25) == 0, rollout.stderr()
    assert rollout.remaining()[-1] == 'deployment "roll" successfully rolled out'


# -- discovery ------------------------------------------------------------------------


def test_api_resources(kubectl: Kubectl) -> None:
    rows = table_rows(kubectl.ok("api-resources"))
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert by_name["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert by_name["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert by_name["configmaps"] == ["configmaps", "cm", "v1", "true", "ConfigMap"]
    assert by_name["secrets"] == ["secrets", "v1", "true", "Secret"]  # no short name: the cell is blank
    assert "pods/status" not in by_name  # subresources are not listed
    wide = table_rows(kubectl.ok("api-resources", "-o", "wide"))
    assert wide[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND", "VERBS", "CATEGORIES"]
    pods_row = next(r for r in wide[1:] if r[0] == "pods")
    assert pods_row[5] == "create,delete,deletecollection,get,list,patch,update,watch" and pods_row[6] == "all"
    names = kubectl.ok("api-resources", "--api-group=apps", "-o", "name").split()
    assert {"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"} <= set(names)
    cluster_scoped = kubectl.ok("api-resources", "--namespaced=false", "-o", "name").split()
    assert "namespaces" in cluster_scoped and "nodes" in cluster_scoped and "pods" not in cluster_scoped


def test_api_versions(kubectl: Kubectl) -> None:
    versions = kubectl.ok("api-versions").split()
    assert {"v1", "apps/v1", "batch/v1"} <= set(versions)
    assert versions == sorted(versions)


def test_version_prints_the_server_version(kubectl: Kubectl, http: httpx.Client) -> None:
    server = http.get("/version").json()
    out = kubectl.ok("version")
    assert f"Client Version: v{kubectl.version}." in out
    assert f"Server Version: {server['gitVersion']}" in out
    as_json = json.loads(kubectl.ok("version", "-o", "json"))
    assert as_json["serverVersion"]["gitVersion"] == server["gitVersion"]
    assert as_json["serverVersion"]["major"] == "1" and as_json["serverVersion"]["minor"] == server["minor"]


def test_get_raw_healthz_and_metrics(kubectl: Kubectl) -> None:
    assert kubectl.ok("get", "--raw", "/healthz") == "ok"
    kubectl.ok("get", "pods")  # at least one counted LIST
    metrics = kubectl.ok("get", "--raw", "/metrics")
    assert "# TYPE apiserver_request_total counter" in metrics
    assert re.search(r'apiserver_request_total\{code="200",resource="pods",verb="LIST"\} \d+', metrics), metrics
    api = json.loads(kubectl.ok("get", "--raw", "/api"))
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    err = kubectl.fails("get", "--raw", "/api/v1/namespaces/default/widgets")
    assert "Error from server (NotFound)" in err


# -- describe ---------------------------------------------------------------------------


def describe_fields(output: str) -> dict[str, str]:
    """Top-level `Key:  value` lines of describe output."""
    fields = {}
    for line in output.splitlines():
        match = re.match(r"^([A-Za-z][A-Za-z ]*):\s+(.*)$", line)
        if match:
            fields[match.group(1)] = match.group(2).strip()
    return fields


def test_describe_namespace(kubectl: Kubectl) -> None:
    out = kubectl.ok("describe", "namespace", kubectl.namespace)
    fields = describe_fields(out)
    assert fields["Name"] == kubectl.namespace and fields["Status"] == "Active"
    assert fields["Labels"] == f"kubernetes.io/metadata.name={kubectl.namespace}"
    # kubelab serves no ResourceQuota/LimitRange: kubectl takes their 404 as "none" and prints no section
    assert "Resource Quotas" not in out


def test_describe_configmap(kubectl: Kubectl) -> None:
    kubectl.apply_yaml({**configmap("settings", {"color": "blue"}),
                        "metadata": {"name": "settings", "labels": {"app": "web"}}})
    out = kubectl.ok("describe", "configmap", "settings")
    fields = describe_fields(out)
    assert fields["Name"] == "settings" and fields["Namespace"] == kubectl.namespace
    assert fields["Labels"] == "app=web"
    assert re.search(r"Data\n====\ncolor:\n----\nblue\n", out), out
    assert fields["Events"] == "<none>"


def test_describe_deployment(kubectl: Kubectl) -> None:
    kubectl.apply_yaml(deployment("web", replicas=3))
    out = kubectl.ok("describe", "deployment", "web")
    fields = describe_fields(out)
    assert fields["Name"] == "web" and fields["Namespace"] == kubectl.namespace
    assert fields["Selector"] == "app=web"
    assert fields["Replicas"].startswith("3 desired")
    assert fields["StrategyType"] == "RollingUpdate"
    assert fields["RollingUpdateStrategy"] == "25% max unavailable, 25% max surge"
    assert re.search(r"Containers:\n   web:\n    Image:\s+nginx:1\.25\n    Port:\s+80/TCP\n", out), out
    assert re.search(r"Environment:\n\s+MODE:\s+prod", out), out
    assert re.search(r"   sidecar:\n    Image:\s+busybox:1\.36\n", out), out


def test_describe_pod_shows_its_events(kubectl: Kubectl, http: httpx.Client) -> None:
    """describe asks for events by involvedObject.name/namespace/uid field selectors."""
    kubectl.apply_yaml(pod("described"), pod("bystander"))
    uid = get_obj(http, pods_path(kubectl.namespace, "described"))["metadata"]["uid"]
    for name, target, target_uid, message in (("e1", "described", uid, "Successfully assigned it to node-1"),
                                              ("e2", "bystander", "other", "Not about the described pod")):
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                 "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": kubectl.namespace,
                                    "name": target, "uid": target_uid},
                 "reason": "Scheduled", "message": message, "type": "Normal",
                 "source": {"component": "default-scheduler"}, "count": 1,
                 "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:00:00Z"}
        resp = http.post(f"/api/v1/namespaces/{kubectl.namespace}/events", json=event)
        assert resp.status_code == 201, resp.text
    out = kubectl.ok("describe", "pod", "described")
    fields = describe_fields(out)
    assert fields["Name"] == "described" and fields["Status"] == "Pending" and fields["QoS Class"] == "BestEffort"
    assert fields["Node"] == "<none>" and fields["Labels"] == "app=web"
    assert re.search(r"Containers:\n  main:\n    Image:\s+busybox:1\.36\n", out), out
    assert re.search(r"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned it to node-1", out), out
    assert "Not about the described pod" not in out
    rows = table_rows(kubectl.ok("get", "events"))
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert {r[3] for r in rows[1:]} == {"pod/described", "pod/bystander"}


# -- label, annotate, scale, set image, patch ------------------------------------------------


def test_label_and_annotate(kubectl: Kubectl, http: httpx.Client) -> None:
    kubectl.apply_yaml(pod("tagged"))
    assert kubectl.ok("label", "pod", "tagged", "tier=db").strip() == "pod/tagged labeled"
    assert get_obj(http, pods_path(kubectl.namespace, "tagged"))["metadata"]["labels"] == {"app": "web", "tier": "db"}
    err = kubectl.fails("label", "pod", "tagged", "tier=cache")
    assert "'tier' already has a value (db), and --overwrite is false" in err
    kubectl.ok("label", "pod", "tagged", "tier=cache", "--overwrite")
    kubectl.ok("label", "pod", "tagged", "app-")
    assert get_obj(http, pods_path(kubectl.namespace, "tagged"))["metadata"]["labels"] == {"tier": "cache"}
    assert kubectl.ok("annotate", "pod", "tagged", "owner=team-a", "note=hello world").strip() == \
        "pod/tagged annotated"
    annotations = get_obj(http, pods_path(kubectl.namespace, "tagged"))["metadata"]["annotations"]
    assert annotations["owner"] == "team-a" and annotations["note"] == "hello world"
    kubectl.ok("annotate", "pod", "tagged", "owner-")
    annotations = get_obj(http, pods_path(kubectl.namespace, "tagged"))["metadata"]["annotations"]
    assert "owner" not in annotations and annotations["note"] == "hello world"
    kubectl.apply_yaml(configmap("c1"), configmap("c2"))
    kubectl.ok("label", "configmaps", "--all", "batch=7")
    assert kubectl.ok("get", "cm", "-l", "batch=7", "-o", "name").split() == ["configmap/c1", "configmap/c2"]


def test_scale_uses_the_scale_subresource(kubectl: Kubectl, http: httpx.Client) -> None:
    kubectl.apply_yaml(deployment("web", replicas=1))
    assert kubectl.ok("scale", "deploy/web", "--replicas=3").strip() == "deployment.apps/web scaled"
    server = get_obj(http, deploy_path(kubectl.namespace, "web"))
    assert server["spec"]["replicas"] == 3 and server["metadata"]["generation"] == 2
    scale = get_obj(http, deploy_path(kubectl.namespace, "web") + "/scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"
    err = kubectl.fails("scale", "deploy/web", "--replicas=5", "--current-replicas=2")
    assert "Expected replicas to be 2, was 3" in err
    assert get_obj(http, deploy_path(kubectl.namespace, "web"))["spec"]["replicas"] == 3


def test_set_image_keeps_other_container_fields(kubectl: Kubectl, http: httpx.Client) -> None:
    kubectl.apply_yaml(deployment("web"))
    assert kubectl.ok("set", "image", "deploy/web", "web=nginx:1.27").strip() == "deployment.apps/web image updated"
    containers = get_obj(http, deploy_path(kubectl.namespace, "web"))["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar"]
    assert containers[0]["image"] == "nginx:1.27"
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert containers[0]["env"] == [{"name": "MODE", "value": "prod"}]
    assert containers[1]["image"] == "busybox:1.36" and containers[1]["command"] == ["sleep", "infinity"]
    kubectl.ok("set", "image", "deploy/web", "*=registry.local/all:2")
    containers = get_obj(http, deploy_path(kubectl.namespace, "web"))["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["registry.local/all:2"] * 2


def test_patch_strategic_merge_and_json(kubectl: Kubectl, http: httpx.Client) -> None:
    kubectl.apply_yaml(deployment("web"))
    # strategic (the default): containers merged by name
    kubectl.ok("patch", "deploy", "web", "-p",
               '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"DEBUG","value":"1"}]}]}}}}')
    containers = get_obj(http, deploy_path(kubectl.namespace, "web"))["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar"]
    assert containers[0]["image"] == "nginx:1.25"
    assert containers[0]["env"] == [{"name": "DEBUG", "value": "1"}, {"name": "MODE", "value": "prod"}]
    # strategic $patch: delete
    kubectl.ok("patch", "deploy", "web", "--type=strategic", "-p",
               '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}')
    containers = get_obj(http, deploy_path(kubectl.namespace, "web"))["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    # merge: lists are replaced wholesale
    out = kubectl.ok("patch", "deploy", "web", "--type=merge", "-p",
                     '{"metadata":{"labels":{"extra":"yes"}},"spec":{"template":{"spec":{"containers":'
                     '[{"name":"only","image":"busybox:1.36"}]}}}}')
    assert out.strip() == "deployment.apps/web patched"
    server = get_obj(http, deploy_path(kubectl.namespace, "web"))
    assert server["metadata"]["labels"] == {"app": "web", "extra": "yes"}
    assert [(c["name"], c["image"]) for c in server["spec"]["template"]["spec"]["containers"]] == \
        [("only", "busybox:1.36")]
    # json patch
    kubectl.ok("patch", "deploy", "web", "--type=json", "-p",
               '[{"op":"replace","path":"/spec/replicas","value":5},'
               '{"op":"add","path":"/metadata/labels/viajson","value":"1"},'
               '{"op":"test","path":"/spec/template/spec/containers/0/name","value":"only"}]')
    server = get_obj(http, deploy_path(kubectl.namespace, "web"))
    assert server["spec"]["replicas"] == 5 and server["metadata"]["labels"]["viajson"] == "1"
    # a no-op patch
    assert kubectl.ok("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":5}}').strip() == \
        "deployment.apps/web patched (no change)"
    # a failing json-patch test op: upstream's bare 422 (NewGenericServerResponse drops the detail)
    err = kubectl.fails("patch", "deploy", "web", "--type=json", "-p",
                        '[{"op":"test","path":"/spec/replicas","value":1}]')
    assert err.strip() == "The request is invalid: the server rejected our request due to an error in our request"
    err = kubectl.fails("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":-1}}')
    assert err.startswith('The Deployment "web" is invalid: spec.replicas: Invalid value: -1'), err
    assert get_obj(http, deploy_path(kubectl.namespace, "web"))["spec"]["replicas"] == 5
