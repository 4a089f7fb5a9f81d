"""LIST and WATCH: selectors, pagination at one revision, watch resume, bookmarks, initial events, 410, Tables."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from helpers import assert_status, configmap, pod, watch_lines

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def make_pods(http: httpx.Client, ns: str, specs: dict[str, dict[str, str]]) -> dict[str, Any]:
    created = {}
    for name, labels in specs.items():
        resp = http.post(f"/api/v1/namespaces/{ns}/pods", json=pod(name, labels=labels))
        assert resp.status_code == 201, resp.text
        created[name] = resp.json()
    return created


def names(http: httpx.Client, path: str, **params: Any) -> list[str]:
    resp = http.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return sorted(i["metadata"]["name"] for i in resp.json()["items"])


@pytest.mark.parametrize("selector,expected", [
    ("app=web", ["a", "b"]),
    ("app==web", ["a", "b"]),
    ("app!=web", ["c", "d"]),
    ("tier in (front,back)", ["a", "c"]),
    ("tier notin (front)", ["b", "c", "d"]),
    ("tier", ["a", "c"]),
    ("!tier", ["b", "d"]),
    ("app=web,tier=front", ["a"]),
])
def test_label_selectors_on_list(http: httpx.Client, namespace: str, selector: str, expected: list[str]) -> None:
    make_pods(http, namespace, {"a": {"app": "web", "tier": "front"}, "b": {"app": "web"},
                                "c": {"app": "db", "tier": "back"}, "d": {}})
    assert names(http, f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector) == expected


def test_field_selectors_on_list(http: httpx.Client, namespace: str) -> None:
    http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod("on-node", node="n1"))
    http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod("floating"))
    path = f"/api/v1/namespaces/{namespace}/pods"
    assert names(http, path, fieldSelector="spec.nodeName=n1") == ["on-node"]
    assert names(http, path, fieldSelector="spec.nodeName=") == ["floating"]
    assert names(http, path, fieldSelector="metadata.name!=floating") == ["on-node"]
    assert names(http, path, fieldSelector="status.phase=Pending,metadata.name=floating") == ["floating"]
    assert names(http, "/api/v1/pods", fieldSelector=f"metadata.namespace={namespace}") == ["floating", "on-node"]


def test_event_field_selectors_as_kubectl_describe_sends(http: httpx.Client, namespace: str) -> None:
    target = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=configmap("target")).json()
    for i, (obj_name, uid) in enumerate([("target", target["metadata"]["uid"]), ("other", "x")]):
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"ev{i}"}, "reason": "Tested",
                 "message": "hello", "type": "Normal", "source": {"component": "test"},
                 "involvedObject": {"kind": "ConfigMap", "namespace": namespace, "name": obj_name, "uid": uid}}
        assert http.post(f"/api/v1/namespaces/{namespace}/events", json=event).status_code == 201
    selector = f"involvedObject.name=target,involvedObject.namespace={namespace}," \
               f"involvedObject.uid={target['metadata']['uid']}"
    assert names(http, f"/api/v1/namespaces/{namespace}/events", fieldSelector=selector, limit=500) == ["ev0"]
    assert names(http, f"/api/v1/namespaces/{namespace}/events", fieldSelector="source=test") == ["ev0", "ev1"]


def test_unsupported_field_selector(http: httpx.Client, namespace: str) -> None:
    body = assert_status(http.get(f"/api/v1/namespaces/{namespace}/configmaps",
                                  params={"fieldSelector": "spec.nodeName=x"}), 400, "BadRequest")
    assert "field label not supported: spec.nodeName" in body["message"]


def test_pagination_is_consistent_at_one_revision(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(7):
        http.post(path, json=configmap(f"cm-{i}"))
    first = http.get(path, params={"limit": 3}).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["cm-0", "cm-1", "cm-2"]
    assert first["metadata"]["remainingItemCount"] == 4
    revision = first["metadata"]["resourceVersion"]
    http.post(path, json=configmap("cm-5a"))  # created after the first page: not part of this list
    http.delete(f"{path}/cm-6")  # deleted after the first page: still part of this list
    seen = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = http.get(path, params={"limit": 3, "continue": token}).json()
        assert page["metadata"]["resourceVersion"] == revision
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"cm-{i}" for i in range(7)]


def test_paginated_list_with_selector_fills_pages(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(9):
        http.post(path, json=configmap(f"s-{i}", labels={"even": str(i % 2 == 0).lower()}))
    seen, token = [], None
    while True:
        params = {"limit": 2, "labelSelector": "even=true"} | ({"continue": token} if token else {})
        page = http.get(path, params=params).json()
        assert len(page["items"]) <= 2
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == ["s-0", "s-2", "s-4", "s-6", "s-8"]


def test_list_across_namespaces_and_resource_version(http: httpx.Client, namespace: str) -> None:
    created = http.post(f"/api/v1/namespaces/{namespace}/configmaps", json=configmap("everywhere")).json()
    listing = http.get("/api/v1/configmaps").json()
    assert listing["kind"] == "ConfigMapList" and listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    assert any(i["metadata"]["namespace"] == namespace and i["metadata"]["name"] == "everywhere"
               for i in listing["items"])


def test_watch_from_resource_version_sees_later_changes_only(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("before"))
    rv = http.get(path).json()["metadata"]["resourceVersion"]
    created = http.post(path, json=configmap("w1")).json()
    http.put(f"{path}/w1", json={**created, "data": {"k": "2"}})
    http.delete(f"{path}/w1")
    events = watch_lines(http, path, count=3, resourceVersion=rv)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and revisions[0] > int(rv)


def test_watch_without_resource_version_starts_with_current_state(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json=configmap("existing"))
    events = watch_lines(http, path, count=1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "existing"


def test_send_initial_events_ends_with_marked_bookmark(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in ("i1", "i2"):
        http.post(path, json=configmap(name))

    def later() -> None:
        time.sleep(0.5)
        http.post(path, json=configmap("live"))
    threading.Thread(target=later).start()
    events = watch_lines(http, path, count=3, sendInitialEvents="true", allowWatchBookmarks="true",
                         resourceVersionMatch="NotOlderThan", until=lambda e: e["type"] == "ADDED" and
                         e["object"]["metadata"]["name"] == "live")
    assert [e["type"] for e in events[:2]] == ["ADDED", "ADDED"]
    bookmark = events[2]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["kind"] == "ConfigMap"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # Between the end marker and the live event only periodic bookmarks may come.
    assert {e["type"] for e in events[3:-1]} <= {"BOOKMARK"}


def test_send_initial_events_requires_bookmarks(http: httpx.Client, namespace: str) -> None:
    resp = http.get(f"/api/v1/namespaces/{namespace}/configmaps",
                    params={"watch": "true", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"})
    assert_status(resp, 422, "Invalid")


def test_periodic_bookmarks_carry_progress(http: httpx.Client, namespace: str) -> None:
    """The test apiserver sends bookmarks every second; their resourceVersion tracks etcd's."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(path).json()["metadata"]["resourceVersion"]
    other = http.post(f"/api/v1/namespaces/{namespace}/secrets",
                      json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "moves-rv"}}).json()
    events = watch_lines(http, path, count=1, resourceVersion=rv, allowWatchBookmarks="true")
    assert events[0]["type"] == "BOOKMARK"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(other["metadata"]["resourceVersion"])


def test_watch_selector_turns_leaving_into_deleted(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = http.post(path, json=configmap("mover", labels={"color": "blue"})).json()
    rv = created["metadata"]["resourceVersion"]
    red = http.put(f"{path}/mover", json={**created, "metadata": {**created["metadata"], "labels": {"color": "red"}}})
    http.put(f"{path}/mover", json={**red.json(), "metadata": {**red.json()["metadata"], "labels": {"color": "blue"}}})
    blue = watch_lines(http, path, count=2, resourceVersion=rv, labelSelector="color=blue")
    assert [e["type"] for e in blue] == ["DELETED", "ADDED"]
    assert blue[0]["object"]["metadata"]["labels"] == {"color": "red"}
    red_events = watch_lines(http, path, count=2, resourceVersion=rv, labelSelector="color=red")
    assert [e["type"] for e in red_events] == ["ADDED", "DELETED"]


def test_watch_field_selector_on_name(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(path).json()["metadata"]["resourceVersion"]
    http.post(path, json=configmap("noise"))
    http.post(path, json=configmap("signal"))
    events = watch_lines(http, path, count=1, resourceVersion=rv, fieldSelector="metadata.name=signal")
    assert events[0]["object"]["metadata"]["name"] == "signal"


def test_watch_timeout_seconds_ends_the_stream(http: httpx.Client, namespace: str) -> None:
    start = time.monotonic()
    resp = http.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"watch": "true", "timeoutSeconds": 1,
                                                                         "resourceVersion": "1"})
    assert resp.status_code == 200 and 0.9 < time.monotonic() - start < 10


def test_table_output_for_list_get_and_watch(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    http.post(path, json=pod("tabled", labels={"a": "b"}))
    table = http.get(path, headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    row = table["rows"][0]
    assert row["cells"][:3] == ["tabled", "0/1", "Pending"]
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["namespace"] == namespace
    one = http.get(f"{path}/tabled", headers={"Accept": TABLE}).json()
    assert one["kind"] == "Table" and len(one["rows"]) == 1
    events = []
    with http.stream("GET", path, params={"watch": "true"}, headers={"Accept": TABLE}) as resp:
        for line in resp.iter_lines():
            events.append(json.loads(line))
            break
    assert events[0]["object"]["kind"] == "Table" and events[0]["object"]["rows"][0]["cells"][0] == "tabled"


def test_watch_of_many_clients_uses_one_etcd_watch(http: httpx.Client, namespace: str, etcd: Any) -> None:
    def etcd_watchers() -> int:
        metrics = httpx.get(f"{etcd.url}/metrics").text
        line = next(line for line in metrics.splitlines() if line.startswith("etcd_debugging_mvcc_watcher_total"))
        return int(float(line.split()[-1]))
    before = etcd_watchers()
    streams = []
    with httpx.Client(base_url=str(http.base_url), timeout=10) as client:
        for _ in range(20):
            cm = client.stream("GET", f"/api/v1/namespaces/{namespace}/pods", params={"watch": "true"})
            streams.append(cm)
            cm.__enter__()
        assert etcd_watchers() == before
        for cm in streams:
            cm.__exit__(None, None, None)
