"""Bad input gets a Status with the right code, reason and field, and never a 500 or a partial write."""
from __future__ import annotations

import json
import random
import string

import httpx
import pytest

from helpers import assert_status, cause_fields, configmap, deployment, pod


def test_malformed_json_is_bad_request(http: httpx.Client, namespace: str) -> None:
    resp = http.post(f"/api/v1/namespaces/{namespace}/pods", content=b'{"apiVersion": "v1", "kind": ',
                     headers={"Content-Type": "application/json"})
    assert "json parse error" in assert_status(resp, 400, "BadRequest")["message"]


def test_malformed_yaml_is_bad_request(http: httpx.Client, namespace: str) -> None:
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b"metadata: [unclosed\n  name: x",
                     headers={"Content-Type": "application/yaml"})
    assert_status(resp, 400, "BadRequest")


def test_yaml_body_is_accepted(http: httpx.Client, namespace: str) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=body,
                     headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 201 and resp.json()["data"] == {"a": "b"}, resp.text


def test_body_without_content_type_is_json(http: httpx.Client, namespace: str) -> None:
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=json.dumps(configmap("noct")).encode())
    assert resp.status_code == 201, resp.text


def test_oversized_body_is_413(http: httpx.Client, namespace: str) -> None:
    big = configmap("big", {"blob": "x" * (3 * 1024 * 1024 + 10)})
    assert_status(http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=big), 413, "RequestEntityTooLarge")
    assert_status(http.get(f"/api/v1/namespaces/{namespace}/configmaps/big"), 404, "NotFound")


def test_unsupported_media_type_is_415(http: httpx.Client, namespace: str) -> None:
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=b"<xml/>",
                     headers={"Content-Type": "application/xml"})
    assert_status(resp, 415, "UnsupportedMediaType")


@pytest.mark.parametrize("mutate,field", [
    (lambda p: p["metadata"].update(name="Bad_Name"), "metadata.name"),
    (lambda p: p["metadata"].update(labels={"bad key!": "v"}), "metadata.labels"),
    (lambda p: p["metadata"].update(labels={"ok": "bad value!"}), "metadata.labels"),
    (lambda p: p["spec"].update(containers=[]), "spec.containers"),
    (lambda p: p["spec"]["containers"][0].pop("image"), "spec.containers[0].image"),
    (lambda p: p["spec"].update(restartPolicy="Sometimes"), "spec.restartPolicy"),
    (lambda p: p["spec"]["containers"][0].update(ports=[{"containerPort": 70000}]),
     "spec.containers[0].ports[0].containerPort"),
])
def test_invalid_pod_is_422_naming_the_field(http: httpx.Client, namespace: str, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    body = pod("valid-name")
    mutate(body)
    status = assert_status(http.post(f"/api/v1/namespaces/{namespace}/pods", json=body), 422, "Invalid")
    assert any(f and f.startswith(field) for f in cause_fields(status)), status
    assert status["details"]["kind"] == "Pod"
    assert http.get(f"/api/v1/namespaces/{namespace}/pods").json()["items"] == []


def test_negative_replicas_is_invalid(http: httpx.Client, namespace: str) -> None:
    body = deployment("neg", replicas=-1)
    status = assert_status(http.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=body), 422, "Invalid")
    assert "spec.replicas" in cause_fields(status)
    assert status["message"].startswith('Deployment.apps "neg" is invalid') or \
        status["message"].startswith('Deployment "neg" is invalid')


def test_unknown_field_strict_is_refused_naming_the_field(http: httpx.Client, namespace: str) -> None:
    body = deployment("strict")
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    resp = http.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", params={"fieldValidation": "Strict"},
                     json=body)
    status = assert_status(resp, 400, "BadRequest")
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"' in status["message"]
    assert "spec.template.spec.containers[0].imagePullPolicyy" in cause_fields(status)


def test_unknown_field_warn_is_dropped_with_a_warning(http: httpx.Client, namespace: str) -> None:
    body = configmap("warned")
    body["extra"] = 1
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", params={"fieldValidation": "Warn"}, json=body)
    assert resp.status_code == 201, resp.text
    assert r'299 - "unknown field \"extra\""' == resp.headers["warning"]
    assert "extra" not in http.get(f"/api/v1/namespaces/{namespace}/configmaps/warned").json()


def test_duplicate_field_strict_is_refused(http: httpx.Client, namespace: str) -> None:
    raw = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","name":"e"}}'
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", params={"fieldValidation": "Strict"}, content=raw)
    assert 'duplicate field "name"' in assert_status(resp, 400, "BadRequest")["message"]


def test_wrong_json_type_is_bad_request(http: httpx.Client, namespace: str) -> None:
    body = deployment("typed")
    body["spec"]["replicas"] = "3"
    status = assert_status(http.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=body), 400, "BadRequest")
    assert "cannot unmarshal string" in status["message"] and "spec.replicas" in cause_fields(status)


def test_kind_mismatch_is_bad_request(http: httpx.Client, namespace: str) -> None:
    assert_status(http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=pod("wrongkind")), 400, "BadRequest")


def test_namespace_mismatch_is_bad_request(http: httpx.Client, namespace: str) -> None:
    body = configmap("x", namespace="other")
    assert_status(http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=body), 400, "BadRequest")


def test_unknown_resource_and_method(http: httpx.Client, namespace: str) -> None:
    assert_status(http.get(f"/api/v1/namespaces/{namespace}/widgets"), 404, "NotFound")
    assert_status(http.get("/apis/nothing.example/v1"), 404, "NotFound")
    assert_status(http.put(f"/api/v1/namespaces/{namespace}/configmaps", json={}), 405, "MethodNotAllowed")


@pytest.mark.parametrize("query", ["labelSelector=a%20in%20(", "labelSelector=!", "fieldSelector=spec.color%3Dred",
                                   "limit=-1", "limit=abc", "resourceVersion=abc&resourceVersionMatch=Exact",
                                   "continue=not-a-token", "watch=true&resourceVersion=xyz"])
def test_bad_list_parameters_are_bad_request(http: httpx.Client, namespace: str, query: str) -> None:
    assert_status(http.get(f"/api/v1/namespaces/{namespace}/pods?{query}"), 400, "BadRequest")


def _garbage(rng: random.Random) -> bytes:
    choices = [
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))),
        lambda: json.dumps(rng.choice([[], 1, "s", None, True, {"metadata": 5}, {"metadata": {"name": 5}},
                                       {"spec": []}, {"metadata": {"name": "ok"}, "spec": {"containers": 3}},
                                       {"metadata": {"name": "ok", "labels": []}},
                                       {"metadata": {"name": "ok", "finalizers": "x"}},
                                       {"metadata": {"name": "ok"}, "spec": {"replicas": {"a": 1}}},
                                       {"metadata": {"name": "ok"}, "data": {"k": 1}},
                                       {"metadata": {"name": "ok"}, "spec": {"ports": [{"port": "x"}]}}])).encode(),
        lambda: ("{" * rng.randint(1, 5000)).encode(),
        lambda: "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 100))).encode(),
    ]
    return rng.choice(choices)()


def etcd_revision(etcd_http: httpx.Client) -> int:
    """etcd's current revision, straight from etcd's JSON gateway: any write moves it."""
    resp = etcd_http.post("/v3/kv/range", json={"key": "AA==", "count_only": True})
    return int(resp.json()["header"]["revision"])


@pytest.mark.parametrize("seed", range(6))
def test_no_input_produces_500_or_partial_write(http: httpx.Client, namespace: str, etcd, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    paths = [f"/api/v1/namespaces/{namespace}/{r}" for r in ("pods", "services", "configmaps", "secrets", "events",
                                                            "endpoints", "serviceaccounts")]
    paths += [f"/apis/apps/v1/namespaces/{namespace}/{r}" for r in ("deployments", "replicasets", "daemonsets",
                                                                   "statefulsets")]
    paths += [f"/apis/batch/v1/namespaces/{namespace}/{r}" for r in ("jobs", "cronjobs")]
    paths += ["/api/v1/nodes", f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers",
              f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"]
    content_types = ["application/json", "application/yaml", "application/merge-patch+json",
                     "application/json-patch+json", "application/strategic-merge-patch+json", ""]
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=configmap("ok"))
    etcd_http = httpx.Client(base_url=etcd.url)
    for _ in range(40):
        path = rng.choice(paths)
        method = rng.choice(["POST", "PUT", "PATCH"])
        target = path if method == "POST" else f"{path}/ok"
        headers = {"Content-Type": rng.choice(content_types)} if rng.random() < 0.9 else {}
        before = etcd_revision(etcd_http)
        resp = http.request(method, target, content=_garbage(rng), headers=headers)
        assert resp.status_code < 500, f"{method} {target}: {resp.status_code} {resp.text[:300]}"
        if resp.status_code >= 400:
            assert resp.json()["kind"] == "Status"
            assert etcd_revision(etcd_http) == before, f"a failed {method} {target} wrote to etcd"
