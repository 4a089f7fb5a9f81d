"""Informer: list-then-watch, resume, relist on Gone, bookmarks, indexes, backoff, handler isolation."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from common import errors
from common.api.kinds import NODES, PODS
from common.informer import Backoff, Informer, deep_copy, index_by_namespace, key_of, split_key
from fake_listwatch import FakeListWatch, eventually, make_obj

FAST = {"backoff_initial_s": 0.001, "backoff_max_s": 0.005, "min_watch_s": 0.0}


class Recorder:
    """Event handlers that write down what they saw."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_add(self, obj: dict) -> None:
        self.events.append(("add", key_of(obj), obj["metadata"]["resourceVersion"]))

    def on_update(self, old: dict, new: dict) -> None:
        self.events.append(("update", key_of(new), old["metadata"]["resourceVersion"],
                            new["metadata"]["resourceVersion"]))

    def on_delete(self, obj: dict) -> None:
        self.events.append(("delete", key_of(obj), obj["metadata"]["resourceVersion"]))

    def attach(self, informer: Informer) -> "Recorder":
        informer.add_handler(self.on_add, self.on_update, self.on_delete)
        return self


def by_node(pod: dict) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    """Informer tasks started by a test; cancelled at its end."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def start(informer: Informer, running: list[asyncio.Task[None]]) -> asyncio.Task[None]:
    task = asyncio.create_task(informer.run())
    running.append(task)
    return task


async def test_key_helpers() -> None:
    assert key_of(make_obj("web", "prod")) == "prod/web"
    assert key_of(make_obj("node-1", None)) == "node-1"
    assert split_key("prod/web") == ("prod", "web")
    assert split_key("node-1") == (None, "node-1")
    assert index_by_namespace(make_obj("web", "prod")) == ["prod"]
    assert index_by_namespace(make_obj("node-1", None)) == []
    original = make_obj("web")
    copied = deep_copy(original)
    copied["spec"]["x"] = 1
    assert "x" not in original["spec"]


async def test_paginated_list_fills_cache_then_watches_from_list_rv(running: list) -> None:
    fake = FakeListWatch([make_obj(f"p{i}", rv=i) for i in range(5)], resource_version=42)
    informer = Informer(fake, PODS, page_size=2, **FAST)
    recorder = Recorder().attach(informer)
    assert not informer.has_synced
    start(informer, running)
    await asyncio.wait_for(informer.wait_for_sync(), 1.0)
    assert informer.has_synced
    assert [call["continue_"] for call in fake.list_calls] == [None, "2", "4"]
    assert all(call["limit"] == 2 for call in fake.list_calls)
    assert sorted(informer.keys()) == [f"default/p{i}" for i in range(5)]
    assert [e[0] for e in recorder.events] == ["add"] * 5
    stream = await fake.stream(0)
    assert stream.params["resource_version"] == "42"
    assert stream.params["allow_bookmarks"] is True
    assert informer.last_resource_version == "42"


async def test_watch_events_update_cache_and_call_handlers_in_order(running: list) -> None:
    fake = FakeListWatch([make_obj("a", rv=5)], resource_version=5)
    informer = Informer(fake, PODS, **FAST)
    first, second = Recorder().attach(informer), Recorder()
    order: list[str] = []
    informer.add_handler(lambda obj: order.append("first"))
    informer.add_handler(lambda obj: order.append("second"))
    second.attach(informer)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("ADDED", make_obj("b", rv=6))
    stream.send("MODIFIED", make_obj("a", rv=7, nodeName="n1"))
    stream.send("DELETED", make_obj("b", rv=8))
    await eventually(lambda: informer.last_resource_version == "8")
    assert first.events == [("add", "default/a", "5"), ("add", "default/b", "6"),
                            ("update", "default/a", "5", "7"), ("delete", "default/b", "8")]
    assert second.events == first.events
    assert order == ["first", "second", "first", "second"]
    assert informer.keys() == ["default/a"]
    assert informer.get("default/a")["spec"] == {"nodeName": "n1"}
    assert informer.get("default/b") is None


async def test_added_for_known_key_is_an_update_and_unknown_delete_is_ignored(running: list) -> None:
    fake = FakeListWatch([make_obj("a", rv=5)], resource_version=5)
    informer = Informer(fake, PODS, **FAST)
    recorder = Recorder().attach(informer)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("ADDED", make_obj("a", rv=6))
    stream.send("DELETED", make_obj("never-seen", rv=7))
    await eventually(lambda: informer.last_resource_version == "7")
    assert recorder.events == [("add", "default/a", "5"), ("update", "default/a", "5", "6")]


async def test_stream_end_resumes_from_last_seen_rv_without_relisting(running: list) -> None:
    fake = FakeListWatch([], resource_version=10)
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("ADDED", make_obj("a", rv=12))
    stream.end()
    resumed = await fake.stream(1)
    assert resumed.params["resource_version"] == "12"
    assert len(fake.list_calls) == 1
    assert informer.get("default/a") is not None


async def test_broken_stream_resumes_from_last_seen_rv(running: list) -> None:
    fake = FakeListWatch([], resource_version=10)
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("ADDED", make_obj("a", rv=13))
    stream.fail(httpx.RemoteProtocolError("peer closed connection"))
    resumed = await fake.stream(1)
    assert resumed.params["resource_version"] == "13"
    assert len(fake.list_calls) == 1
    assert stream.closed


async def test_bookmark_only_advances_resource_version(running: list) -> None:
    fake = FakeListWatch([make_obj("a", rv=5)], resource_version=5)
    informer = Informer(fake, PODS, **FAST)
    recorder = Recorder().attach(informer)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "99"}})
    await eventually(lambda: informer.last_resource_version == "99")
    stream.end()
    assert (await fake.stream(1)).params["resource_version"] == "99"
    assert recorder.events == [("add", "default/a", "5")]
    assert informer.keys() == ["default/a"]


async def test_gone_relists_and_synthesizes_what_changed(running: list) -> None:
    fake = FakeListWatch([make_obj("keep", rv=1), make_obj("change", rv=2), make_obj("drop", rv=3)],
                         resource_version=3)
    informer = Informer(fake, PODS, **FAST)
    recorder = Recorder().attach(informer)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("BOOKMARK", {"metadata": {"resourceVersion": "3"}})
    recorder.events.clear()
    # While we were away: one changed, one deleted, one created; then the watch's RV got compacted.
    fake.put(make_obj("change", nodeName="n2"))
    fake.remove("default/drop")
    fake.put(make_obj("new"))
    stream.fail(errors.Gone("too old resource version: 3 (7)"))
    relisted_watch = await fake.stream(1)
    assert len(fake.list_calls) == 2
    assert relisted_watch.params["resource_version"] == str(fake.resource_version)
    assert sorted(recorder.events) == [("add", "default/new", "6"), ("delete", "default/drop", "3"),
                                       ("update", "default/change", "2", "4")]
    assert sorted(informer.keys()) == ["default/change", "default/keep", "default/new"]
    assert informer.backoff.attempts == 0  # a watch that worked relists at once


async def test_repeated_gone_on_empty_watches_backs_off(running: list) -> None:
    fake = FakeListWatch([make_obj("a")], resource_version=3)
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    for number in range(3):
        (await fake.stream(number)).fail(errors.Gone("too old"))
    await fake.stream(3)
    assert len(fake.list_calls) == 4
    assert informer.backoff.attempts == 3


async def test_gone_when_opening_the_watch_relists(running: list) -> None:
    fake = FakeListWatch([make_obj("a")], resource_version=3)
    fake.watch_errors.append(errors.Gone("too old"))
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    await fake.stream(0)
    assert len(fake.list_calls) == 2
    assert len(fake.watch_calls) == 2
    assert informer.backoff.attempts == 1


async def test_expired_continue_token_falls_back_to_unpaged_list(running: list) -> None:
    fake = FakeListWatch([make_obj(f"p{i}") for i in range(3)], resource_version=8)
    fake.expire_continue_tokens = True
    informer = Informer(fake, PODS, page_size=2, **FAST)
    start(informer, running)
    await asyncio.wait_for(informer.wait_for_sync(), 1.0)
    assert [(c["limit"], c["continue_"]) for c in fake.list_calls] == [(2, None), (2, "2"), (None, None)]
    assert len(informer) == 3


async def test_indexes_follow_add_update_delete_and_relist(running: list) -> None:
    fake = FakeListWatch([make_obj("a", rv=1, nodeName="n1"), make_obj("b", "other", rv=2, nodeName="n1"),
                          make_obj("c", rv=3)], resource_version=3)
    informer = Informer(fake, PODS, indexers={"node": by_node}, **FAST)
    start(informer, running)
    stream = await fake.stream(0)

    def node(name: str) -> list[str]:
        return [key_of(obj) for obj in informer.by_index("node", name)]

    assert node("n1") == ["default/a", "other/b"]
    assert [key_of(o) for o in informer.by_index("namespace", "other")] == ["other/b"]
    assert [key_of(o) for o in informer.list("other")] == ["other/b"]
    stream.send("MODIFIED", make_obj("a", rv=4, nodeName="n2"))
    stream.send("MODIFIED", make_obj("c", rv=5, nodeName="n2"))
    stream.send("DELETED", make_obj("b", "other", rv=6, nodeName="n1"))
    await eventually(lambda: informer.last_resource_version == "6")
    assert node("n1") == []
    assert node("n2") == ["default/a", "default/c"]
    assert informer.by_index("namespace", "other") == []
    assert informer.list("other") == []
    # A relist that no longer has "c" drops it from the index too.
    fake.objects = {"default/a": make_obj("a", rv=4, nodeName="n2")}
    stream.fail(errors.Gone("compacted"))
    await fake.stream(1)
    assert node("n2") == ["default/a"]
    with pytest.raises(KeyError):
        informer.by_index("no-such-index", "x")


async def test_failing_index_function_does_not_break_the_cache(running: list) -> None:
    fake = FakeListWatch([make_obj("a"), make_obj("b", nodeName="n1")])
    informer = Informer(fake, PODS, indexers={"node": lambda obj: [obj["spec"]["nodeName"]]}, **FAST)
    start(informer, running)
    await asyncio.wait_for(informer.wait_for_sync(), 1.0)
    assert len(informer) == 2
    assert [key_of(o) for o in informer.by_index("node", "n1")] == ["default/b"]


async def test_handler_exceptions_are_contained(running: list) -> None:
    fake = FakeListWatch([make_obj("a")], resource_version=1)
    informer = Informer(fake, PODS, **FAST)

    def explode(*args: object) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(explode, explode, explode)
    recorder = Recorder().attach(informer)
    start(informer, running)
    stream = await fake.stream(0)
    stream.send("MODIFIED", make_obj("a", rv=2))
    stream.send("DELETED", make_obj("a", rv=3))
    stream.send("ADDED", make_obj("b", rv=4))
    await eventually(lambda: informer.last_resource_version == "4")
    assert [e[0] for e in recorder.events] == ["add", "update", "delete", "add"]
    assert len(fake.watch_calls) == 1  # the stream was never abandoned


async def test_late_handler_gets_adds_for_cached_objects(running: list) -> None:
    fake = FakeListWatch([make_obj("a"), make_obj("b")])
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    await asyncio.wait_for(informer.wait_for_sync(), 1.0)
    recorder = Recorder().attach(informer)
    assert sorted(e[1] for e in recorder.events) == ["default/a", "default/b"]


async def test_list_errors_back_off_and_retry_until_synced(running: list) -> None:
    fake = FakeListWatch([make_obj("a")])
    fake.list_errors = [errors.ServiceUnavailable("etcd down"), httpx.ConnectError("refused")]
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    await asyncio.wait_for(informer.wait_for_sync(), 1.0)
    assert len(fake.list_calls) == 3
    assert informer.backoff.attempts == 2
    assert informer.keys() == ["default/a"]


async def test_watch_errors_back_off_and_a_healthy_watch_resets_it(running: list) -> None:
    fake = FakeListWatch([], resource_version=10)
    fake.watch_errors = [httpx.ConnectError("refused"), errors.InternalError("boom"), httpx.ReadTimeout("slow")]
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    stream = await fake.stream(0)
    assert len(fake.watch_calls) == 4
    assert all(call["resource_version"] == "10" for call in fake.watch_calls)
    assert len(fake.list_calls) == 1  # errors other than Gone resume, they do not relist
    assert informer.backoff.attempts == 3
    stream.send("ADDED", make_obj("a", rv=11))
    await eventually(lambda: informer.backoff.attempts == 0)


async def test_very_short_empty_watches_back_off(running: list) -> None:
    fake = FakeListWatch([], resource_version=10)
    informer = Informer(fake, PODS, **{**FAST, "min_watch_s": 10.0})
    start(informer, running)
    for number in range(3):
        (await fake.stream(number)).end()
    await fake.stream(3)
    assert informer.backoff.attempts == 3


def test_backoff_grows_with_jitter_caps_and_resets() -> None:
    backoff = Backoff(initial_s=1.0, max_s=10.0, jitter=1.0)
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 10, 10]):
        assert base <= delay <= min(2 * base, 10.0)
    assert backoff.attempts == 6
    backoff.reset()
    assert 1.0 <= backoff.next_delay() <= 2.0
    assert Backoff().initial_s == 0.8 and Backoff().max_s == 30.0


async def test_resync_replays_cached_objects_as_updates(running: list) -> None:
    fake = FakeListWatch([make_obj("a", rv=5)], resource_version=5)
    informer = Informer(fake, PODS, resync_period_s=0.005, **FAST)
    recorder = Recorder().attach(informer)
    start(informer, running)
    await eventually(lambda: ("update", "default/a", "5", "5") in recorder.events)


async def test_cluster_scoped_objects_are_keyed_by_name(running: list) -> None:
    fake = FakeListWatch([make_obj("node-1", None)])
    informer = Informer(fake, NODES, **FAST)
    start(informer, running)
    await asyncio.wait_for(informer.wait_for_sync(), 1.0)
    assert informer.get("node-1") is not None


async def test_selectors_are_passed_to_list_and_watch(running: list) -> None:
    fake = FakeListWatch([])
    informer = Informer(fake, PODS, "prod", label_selector="app=web", field_selector="spec.nodeName=n1", **FAST)
    start(informer, running)
    stream = await fake.stream(0)
    assert fake.list_calls[0]["namespace"] == "prod"
    assert fake.list_calls[0]["label_selector"] == "app=web"
    assert fake.list_calls[0]["field_selector"] == "spec.nodeName=n1"
    assert (stream.params["namespace"], stream.params["label_selector"], stream.params["field_selector"]) == \
        ("prod", "app=web", "spec.nodeName=n1")
    assert 300 <= stream.params["timeout_seconds"] <= 600


async def test_second_run_of_a_shared_informer_opens_no_second_watch(running: list) -> None:
    fake = FakeListWatch([])
    informer = Informer(fake, PODS, **FAST)
    start(informer, running)
    await fake.stream(0)
    start(informer, running)
    await asyncio.sleep(0.01)
    assert len(fake.watch_calls) == 1 and len(fake.list_calls) == 1


async def test_cancel_stops_the_informer_and_closes_the_stream() -> None:
    fake = FakeListWatch([])
    informer = Informer(fake, PODS, **FAST)
    task = asyncio.create_task(informer.run())
    stream = await fake.stream(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.closed
