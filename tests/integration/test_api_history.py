"""History and restarts on a private etcd+apiserver: compaction → 410, resuming old watches, restarts lose nothing."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx

from apiserver.storage import Storage
from helpers import assert_status, configmap, watch_lines


def compact_now(etcd_url: str) -> int:
    async def compact() -> int:
        store = Storage([etcd_url])
        await store.connect()
        try:
            revision = await store.current_revision()
            await store.compact(revision)
            return revision
        finally:
            await store.close()
    return asyncio.run(compact())


def test_watch_from_compacted_revision_is_410_expired(private_cluster: Any) -> None:
    etcd, api = private_cluster
    with httpx.Client(base_url=api.url, timeout=10) as http:
        path = "/api/v1/namespaces/default/configmaps"
        old_rv = http.post(path, json=configmap("c0")).json()["metadata"]["resourceVersion"]
        for i in range(60):  # more than the private cluster's 50-event cache window
            http.post(path, json=configmap(f"c{i + 1}"))
        compact_now(etcd.url)
        events = watch_lines(http, path, count=1, resourceVersion=old_rv)
        assert events[0]["type"] == "ERROR"
        status = events[0]["object"]
        assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"


def test_continue_token_after_compaction_is_410(private_cluster: Any) -> None:
    etcd, api = private_cluster
    with httpx.Client(base_url=api.url, timeout=10) as http:
        path = "/api/v1/namespaces/default/configmaps"
        for i in range(4):
            http.post(path, json=configmap(f"p{i}"))
        token = http.get(path, params={"limit": 2}).json()["metadata"]["continue"]
        http.post(path, json=configmap("newer"))
        compact_now(etcd.url)
        assert_status(http.get(path, params={"limit": 2, "continue": token}), 410, "Expired")


def test_watch_older_than_the_cache_window_replays_from_etcd(private_cluster: Any) -> None:
    _etcd, api = private_cluster
    with httpx.Client(base_url=api.url, timeout=10) as http:
        path = "/api/v1/namespaces/default/configmaps"
        rv = http.get(path).json()["metadata"]["resourceVersion"]
        for i in range(80):  # pushes rv out of the 50-event window
            http.post(path, json=configmap(f"h{i}"))
        events = watch_lines(http, path, count=80, resourceVersion=rv)
        assert [e["object"]["metadata"]["name"] for e in events] == [f"h{i}" for i in range(80)]
        assert {e["type"] for e in events} == {"ADDED"}


def test_restarting_the_apiserver_loses_nothing(private_cluster: Any) -> None:
    _etcd, api = private_cluster
    path = "/api/v1/namespaces/default/configmaps"
    with httpx.Client(base_url=api.url, timeout=10) as http:
        made = [http.post(path, json=configmap(f"keep{i}")).json() for i in range(5)]
        rv = made[-1]["metadata"]["resourceVersion"]
    api.stop()
    api.start()
    with httpx.Client(base_url=api.url, timeout=10) as http:
        after = {i["metadata"]["name"]: i for i in http.get(path).json()["items"]}
        for obj in made:
            assert after[obj["metadata"]["name"]] == obj
        later = http.post(path, json=configmap("after-restart")).json()
        # A client resuming its watch from before the restart sees exactly what happened since.
        events = watch_lines(http, path, count=1, resourceVersion=rv)
        assert events[0]["type"] == "ADDED" and events[0]["object"] == later


def test_restart_with_watch_open_ends_stream_and_resume_works(private_cluster: Any) -> None:
    _etcd, api = private_cluster
    path = "/api/v1/namespaces/default/configmaps"
    with httpx.Client(base_url=api.url, timeout=10) as http:
        rv = http.post(path, json=configmap("r0")).json()["metadata"]["resourceVersion"]
        with http.stream("GET", path, params={"watch": "true", "resourceVersion": rv}) as resp:
            api.stop()
            try:
                leftover = resp.read()
            except httpx.HTTPError:
                leftover = b""
            assert leftover == b""
        api.start()
        http.post(path, json=configmap("r1"))
        events = watch_lines(http, path, count=1, resourceVersion=rv)
        assert events[0]["object"]["metadata"]["name"] == "r1"


def test_events_expire_after_event_ttl(tmp_path: Any) -> None:
    from conftest import ApiServer, Etcd, wait_until
    etcd = Etcd(tmp_path)
    etcd.start()
    api = ApiServer(tmp_path, etcd.url, "--event-ttl", "2s")
    try:
        api.start()
        with httpx.Client(base_url=api.url, timeout=10) as http:
            event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "short-lived"}, "reason": "Test",
                     "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}}
            assert http.post("/api/v1/namespaces/default/events", json=event).status_code == 201
            http.post("/api/v1/namespaces/default/configmaps", json=configmap("long-lived"))
            path = "/api/v1/namespaces/default/events/short-lived"
            assert http.get(path).status_code == 200
            wait_until(lambda: http.get(path).status_code == 404, timeout=15, what="the event to expire")
            assert http.get("/api/v1/namespaces/default/configmaps/long-lived").status_code == 200
    finally:
        api.stop()
        etcd.stop()
