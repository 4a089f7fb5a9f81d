"""CRUD semantics of the apiserver against a live etcd: metadata, CAS, subresources, patches, deletion."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from helpers import assert_status, cause_fields, configmap, deployment, pod


def pods_path(ns: str, name: str = "", sub: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def deploys_path(ns: str, name: str = "", sub: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def test_create_sets_system_metadata_and_defaults(http: httpx.Client, namespace: str) -> None:
    resp = http.post(pods_path(namespace), json=pod("p1"))
    assert resp.status_code == 201, resp.text
    created = resp.json()
    meta = created["metadata"]
    assert meta["namespace"] == namespace and meta["name"] == "p1"
    assert isinstance(meta["resourceVersion"], str) and int(meta["resourceVersion"]) > 0
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert created["spec"]["restartPolicy"] == "Always"
    assert created["spec"]["terminationGracePeriodSeconds"] == 30
    assert created["status"]["phase"] == "Pending"
    got = http.get(pods_path(namespace, "p1")).json()
    assert got == created


def test_create_in_missing_namespace_is_not_found(http: httpx.Client) -> None:
    body = assert_status(http.post(pods_path("no-such-ns"), json=pod("p")), 404, "NotFound")
    assert body["details"] == {"name": "no-such-ns", "kind": "namespaces"}


def test_generate_name(http: httpx.Client, namespace: str) -> None:
    body = configmap("")
    body["metadata"] = {"generateName": "cfg-"}
    names = {http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body).json()["metadata"]["name"]
             for _ in range(3)}
    assert len(names) == 3 and all(n.startswith("cfg-") and len(n) == 9 for n in names)


def test_duplicate_create_is_already_exists(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    assert http.post(path, json=configmap("dup")).status_code == 201
    body = assert_status(http.post(path, json=configmap("dup")), 409, "AlreadyExists")
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"]["name"] == "dup" and body["details"]["kind"] == "configmaps"


def test_get_missing_is_not_found_status(http: httpx.Client, namespace: str) -> None:
    body = assert_status(http.get(deploys_path(namespace, "ghost")), 404, "NotFound")
    assert body["message"] == 'deployments.apps "ghost" not found'
    assert body["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}


def test_put_with_stale_resource_version_conflicts(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    first = http.post(path, json=configmap("cas")).json()
    first["data"] = {"k": "v2"}
    second = http.put(f"{path}/cas", json=first)
    assert second.status_code == 200, second.text
    assert int(second.json()["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    first["data"] = {"k": "stale"}
    body = assert_status(http.put(f"{path}/cas", json=first), 409, "Conflict")
    assert "the object has been modified" in body["message"]
    assert http.get(f"{path}/cas").json()["data"] == {"k": "v2"}


def test_put_without_resource_version_is_unconditional(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("uncond"))
    resp = http.put(f"{path}/uncond", json=configmap("uncond", {"k": "new"}))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == {"k": "new"}


def test_put_missing_object_is_not_found_unless_kind_creates_on_update(http: httpx.Client, namespace: str) -> None:
    assert_status(http.put(f"/api/v1/namespaces/{namespace}/configmaps/nope", json=configmap("nope")), 404, "NotFound")
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l1"},
             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 10}}
    resp = http.put(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/l1", json=lease)
    assert resp.status_code == 201, resp.text


def test_generation_bumps_only_on_spec_change(http: httpx.Client, namespace: str) -> None:
    created = http.post(deploys_path(namespace), json=deployment("gen")).json()
    assert created["metadata"]["generation"] == 1
    created["metadata"]["labels"]["extra"] = "yes"
    relabeled = http.put(deploys_path(namespace, "gen"), json=created).json()
    assert relabeled["metadata"]["generation"] == 1
    relabeled["spec"]["replicas"] = 5
    rescaled = http.put(deploys_path(namespace, "gen"), json=relabeled).json()
    assert rescaled["metadata"]["generation"] == 2


def test_status_subresource_ignores_spec_and_main_resource_ignores_status(http: httpx.Client, namespace: str) -> None:
    created = http.post(deploys_path(namespace), json=deployment("split", replicas=2)).json()
    sneaky = json.loads(json.dumps(created))
    sneaky["spec"]["replicas"] = 9
    sneaky["status"] = {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}
    after_status = http.put(deploys_path(namespace, "split", "status"), json=sneaky).json()
    assert after_status["spec"]["replicas"] == 2 and after_status["status"]["readyReplicas"] == 1
    after_status["status"] = {"replicas": 0}
    after_status["spec"]["replicas"] = 4
    after_main = http.put(deploys_path(namespace, "split"), json=after_status).json()
    assert after_main["spec"]["replicas"] == 4 and after_main["status"]["readyReplicas"] == 1
    patched = http.patch(deploys_path(namespace, "split", "status"), content=b'{"status":{"readyReplicas":2}}',
                         headers={"Content-Type": "application/merge-patch+json"}).json()
    assert patched["status"]["readyReplicas"] == 2 and patched["spec"]["replicas"] == 4


def test_scale_subresource(http: httpx.Client, namespace: str) -> None:
    http.post(deploys_path(namespace), json=deployment("sc", replicas=2))
    scale = http.get(deploys_path(namespace, "sc", "scale")).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "app=sc"
    scale["spec"]["replicas"] = 4
    assert http.put(deploys_path(namespace, "sc", "scale"), json=scale).json()["spec"]["replicas"] == 4
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        resp = http.patch(deploys_path(namespace, "sc", "scale"), content=b'{"spec":{"replicas":1}}',
                          headers={"Content-Type": content_type})
        assert resp.json()["spec"]["replicas"] == 1, resp.text
    assert http.get(deploys_path(namespace, "sc")).json()["spec"]["replicas"] == 1
    bad = http.patch(deploys_path(namespace, "sc", "scale"), content=b'{"spec":{"replicas":-1}}',
                     headers={"Content-Type": "application/merge-patch+json"})
    assert "spec.replicas" in cause_fields(assert_status(bad, 422, "Invalid"))


@pytest.mark.parametrize("content_type,patch,check", [
    ("application/merge-patch+json", {"metadata": {"labels": {"tier": "front"}}},
     lambda d: d["metadata"]["labels"] == {"app": "pt", "tier": "front"}),
    ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": 7}],
     lambda d: d["spec"]["replicas"] == 7),
    ("application/strategic-merge-patch+json",
     {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}],
                                     "containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
     lambda d: d["spec"]["template"]["spec"]["containers"][0] | {} == d["spec"]["template"]["spec"]["containers"][0]
     and d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
     and d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80),
])
def test_patch_types(http: httpx.Client, namespace: str, content_type: str, patch: object, check: object) -> None:
    http.post(deploys_path(namespace), json=deployment("pt"))
    resp = http.patch(deploys_path(namespace, "pt"), content=json.dumps(patch).encode(),
                      headers={"Content-Type": content_type})
    assert resp.status_code == 200, resp.text
    assert check(resp.json())  # type: ignore[operator]
    assert check(http.get(deploys_path(namespace, "pt")).json())  # type: ignore[operator]


def test_strategic_merge_keeps_other_containers_where_merge_patch_replaces(http: httpx.Client, namespace: str) -> None:
    two = pod("two")
    two["spec"]["containers"].append({"name": "side", "image": "busybox:1.36"})
    http.post(pods_path(namespace), json=two)
    smp = {"spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}}
    resp = http.patch(pods_path(namespace, "two"), content=json.dumps(smp).encode(),
                      headers={"Content-Type": "application/strategic-merge-patch+json"})
    images = {c["name"]: c["image"] for c in resp.json()["spec"]["containers"]}
    assert images == {"main": "busybox:1.36", "side": "busybox:1.37"}


def test_patch_with_stale_resource_version_conflicts(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = http.post(path, json=configmap("prv")).json()
    http.patch(f"{path}/prv", content=b'{"data":{"k":"2"}}', headers={"Content-Type": "application/merge-patch+json"})
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"k": "3"}}
    resp = http.patch(f"{path}/prv", content=json.dumps(stale).encode(),
                      headers={"Content-Type": "application/merge-patch+json"})
    assert_status(resp, 409, "Conflict")


def test_json_patch_failures(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("jp"))
    bad_test = [{"op": "test", "path": "/data/k", "value": "other"}, {"op": "remove", "path": "/data/k"}]
    assert_status(http.patch(f"{path}/jp", content=json.dumps(bad_test).encode(),
                             headers={"Content-Type": "application/json-patch+json"}), 422, "Invalid")
    assert_status(http.patch(f"{path}/jp", content=b'{"op": "remove"}',
                             headers={"Content-Type": "application/json-patch+json"}), 400, "BadRequest")
    assert http.get(f"{path}/jp").json()["data"] == {"k": "v"}


def test_apply_patch_creates_then_merges(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/ssa"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    body = json.dumps(configmap("ssa", {"a": "1"})).encode()
    assert_status(http.patch(path, content=body, headers=headers), 422, "Invalid")  # fieldManager required
    first = http.patch(path, params={"fieldManager": "test"}, content=body, headers=headers)
    assert first.status_code == 201, first.text
    assert http.patch(path, params={"fieldManager": "other"}, content=b'{"data": {"c": "3"}}',
                      headers={"Content-Type": "application/merge-patch+json"}).status_code == 200
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  b: '2'\n"
    second = http.patch(path, params={"fieldManager": "test"}, content=yaml_body, headers=headers)
    # "test" no longer applies a: it goes; c belongs to "other" (an Update) and stays
    assert second.status_code == 200 and second.json()["data"] == {"b": "2", "c": "3"}, second.text
    managed = {(e["manager"], e["operation"]): e["fieldsV1"] for e in second.json()["metadata"]["managedFields"]}
    assert managed == {("test", "Apply"): {"f:data": {"f:b": {}}}, ("other", "Update"): {"f:data": {"f:c": {}}}}


def test_apply_conflict_between_two_managers_then_force(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/shared"

    def apply(manager: str, data: dict[str, str], **params: str) -> httpx.Response:
        return http.patch(path, params={"fieldManager": manager, **params}, content=json.dumps(
            configmap("shared", data)).encode(), headers={"Content-Type": "application/apply-patch+yaml"})

    assert apply("alice", {"one": "1", "two": "2"}).status_code == 201
    assert apply("bob", {"one": "1"}).status_code == 200  # the same value: shared ownership, no conflict
    body = assert_status(apply("bob", {"one": "uno", "two": "dos"}), 409, "Conflict")
    assert body["message"] == 'Apply failed with 2 conflicts: conflicts with "alice":\n- .data.one\n- .data.two'
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.one"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.two"}]
    assert_status(apply("bob", {"one": "uno"}, force="false"), 409, "Conflict")
    assert http.get(path).json()["data"] == {"one": "1", "two": "2"}
    forced = apply("bob", {"one": "uno"}, force="true")
    assert forced.status_code == 200 and forced.json()["data"] == {"one": "uno", "two": "2"}, forced.text
    managed = {e["manager"]: e["fieldsV1"] for e in forced.json()["metadata"]["managedFields"]}
    assert managed == {"alice": {"f:data": {"f:two": {}}}, "bob": {"f:data": {"f:one": {}}}}
    # alice dropping "one" from her configuration no longer removes it: bob owns it now
    assert apply("alice", {"two": "2"}).json()["data"] == {"one": "uno", "two": "2"}


def test_apply_to_status_owns_status_only(http: httpx.Client, namespace: str) -> None:
    path = deploys_path(namespace, "st")
    headers = {"Content-Type": "application/apply-patch+yaml"}
    assert http.patch(path, params={"fieldManager": "deployer"}, content=json.dumps(deployment("st")),
                      headers=headers).status_code == 201
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "st"},
              "spec": {"replicas": 9}, "status": {"replicas": 2}}
    resp = http.patch(f"{path}/status", params={"fieldManager": "ctl"}, content=json.dumps(status), headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"]["replicas"] == 2 and resp.json()["spec"]["replicas"] == 2
    entries = {e["manager"]: e for e in resp.json()["metadata"]["managedFields"]}
    assert entries["ctl"]["subresource"] == "status" and entries["ctl"]["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    assert "subresource" not in entries["deployer"]


def test_patch_unsupported_content_type(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("ct"))
    assert_status(http.patch(f"{path}/ct", content=b"{}", headers={"Content-Type": "text/csv"}),
                  415, "UnsupportedMediaType")


def test_delete_returns_object_for_pods_and_status_for_deployments(http: httpx.Client, namespace: str) -> None:
    http.post(pods_path(namespace), json=pod("gone"))
    deleted = http.delete(pods_path(namespace, "gone"))
    assert deleted.status_code == 200 and deleted.json()["kind"] == "Pod", deleted.text
    assert_status(http.get(pods_path(namespace, "gone")), 404, "NotFound")
    http.post(deploys_path(namespace), json=deployment("gone"))
    status = http.request("DELETE", deploys_path(namespace, "gone"), json={"propagationPolicy": "Background"})
    assert status.status_code == 200 and status.json()["status"] == "Success", status.text
    assert status.json()["details"]["name"] == "gone"


def test_finalizers_block_removal_until_cleared(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("fin", finalizers=["example.com/keep"]))
    resp = http.delete(f"{path}/fin")
    assert resp.status_code == 202, resp.text
    marked = http.get(f"{path}/fin").json()
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["finalizers"] == ["example.com/keep"]
    grow = {"metadata": {"finalizers": ["example.com/keep", "example.com/new"]}}
    refused = http.patch(f"{path}/fin", content=json.dumps(grow).encode(),
                         headers={"Content-Type": "application/merge-patch+json"})
    assert "metadata.finalizers" in cause_fields(assert_status(refused, 422, "Invalid"))
    cleared = http.patch(f"{path}/fin", content=b'{"metadata":{"finalizers":null}}',
                         headers={"Content-Type": "application/merge-patch+json"})
    assert cleared.status_code == 200, cleared.text
    assert_status(http.get(f"{path}/fin"), 404, "NotFound")


def test_pod_graceful_deletion(http: httpx.Client, namespace: str) -> None:
    http.post(pods_path(namespace), json=pod("grace", node="node-1"))
    first = http.delete(pods_path(namespace, "grace"))
    assert first.status_code == 202, first.text
    meta = http.get(pods_path(namespace, "grace")).json()["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30 and meta["deletionTimestamp"]
    shorter = http.request("DELETE", pods_path(namespace, "grace"), json={"gracePeriodSeconds": 5})
    assert shorter.json()["metadata"]["deletionGracePeriodSeconds"] == 5
    final = http.delete(pods_path(namespace, "grace"), params={"gracePeriodSeconds": 0})
    assert final.status_code == 200, final.text
    assert_status(http.get(pods_path(namespace, "grace")), 404, "NotFound")


def test_unscheduled_pod_is_deleted_at_once(http: httpx.Client, namespace: str) -> None:
    http.post(pods_path(namespace), json=pod("quick"))
    assert http.delete(pods_path(namespace, "quick")).status_code == 200
    assert_status(http.get(pods_path(namespace, "quick")), 404, "NotFound")


def test_delete_preconditions(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("pre"))
    resp = http.request("DELETE", f"{path}/pre", json={"preconditions": {"uid": "not-the-uid"}})
    assert "Precondition failed" in assert_status(resp, 409, "Conflict")["message"]
    assert http.get(f"{path}/pre").status_code == 200


def test_binding_sets_node_once(http: httpx.Client, namespace: str) -> None:
    http.post(pods_path(namespace), json=pod("b1"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b1"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    resp = http.post(pods_path(namespace, "b1", "binding"), json=binding)
    assert resp.status_code == 201, resp.text
    bound = http.get(pods_path(namespace, "b1")).json()
    assert bound["spec"]["nodeName"] == "node-a"
    assert {"type": "PodScheduled", "status": "True"}.items() <= bound["status"]["conditions"][0].items()
    assert_status(http.post(pods_path(namespace, "b1", "binding"), json=binding), 409, "Conflict")


def test_binding_is_validated_before_anything_is_written(http: httpx.Client, namespace: str) -> None:
    http.post(pods_path(namespace), json=pod("b2"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b2", "annotations": {"bad key!": "x"}},
               "target": {"kind": "Pod", "name": ""}}
    body = assert_status(http.post(pods_path(namespace, "b2", "binding"), json=binding), 422, "Invalid")
    assert set(cause_fields(body)) == {"target.kind", "target.name", "metadata.annotations"}
    assert "nodeName" not in http.get(pods_path(namespace, "b2")).json()["spec"]


def test_concurrent_patches_all_land(http: httpx.Client, apiserver: Any, namespace: str) -> None:
    """Updates start from the watch cache's copy; a stale one must cost a retry, never a lost write."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("hot"))

    def add_key(i: int) -> int:
        with httpx.Client(base_url=apiserver.url, timeout=30) as client:
            return client.patch(f"{path}/hot", json={"data": {f"k{i}": str(i)}},
                                headers={"Content-Type": "application/merge-patch+json"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(add_key, range(40)))
    assert codes == [200] * 40
    data = http.get(f"{path}/hot").json()["data"]
    assert {f"k{i}": str(i) for i in range(40)}.items() <= data.items()


def test_dry_run_writes_nothing(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    resp = http.post(path, params={"dryRun": "All"}, json=configmap("dry"))
    assert resp.status_code == 201 and resp.json()["metadata"]["uid"]
    assert_status(http.get(f"{path}/dry"), 404, "NotFound")


def test_namespace_deletion_marks_terminating_and_blocks_new_content(http: httpx.Client) -> None:
    http.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed-ns"}})
    resp = http.delete("/api/v1/namespaces/doomed-ns")
    assert resp.status_code == 202 and resp.json()["status"]["phase"] == "Terminating", resp.text
    refused = http.post("/api/v1/namespaces/doomed-ns/configmaps", json=configmap("late"))
    assert assert_status(refused, 403, "Forbidden")["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    ns = http.get("/api/v1/namespaces/doomed-ns").json()
    ns["spec"]["finalizers"] = []
    assert http.put("/api/v1/namespaces/doomed-ns/finalize", json=ns).status_code == 200
    assert_status(http.get("/api/v1/namespaces/doomed-ns"), 404, "NotFound")


def test_system_namespaces_exist(http: httpx.Client) -> None:
    names = {ns["metadata"]["name"] for ns in http.get("/api/v1/namespaces").json()["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
