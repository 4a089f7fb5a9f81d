"""NamespaceController: content of a deleted namespace goes, conditions report progress, then the finalizer goes."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from fake_listwatch import FakeListWatch

from common import errors
from common.api import kinds
from common.informer import SharedInformers
from controller_manager.namespace import (
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    DeletionResult,
    NamespaceController,
    deletion_conditions,
    merge_conditions,
    namespaced_resources,
)

Obj = dict[str, Any]


class ContentClient(FakeListWatch):
    """Holds namespaced objects per plural; deletecollection removes those without finalizers; writes recorded."""

    def __init__(self, content: dict[str, list[Obj]]) -> None:
        super().__init__()
        self.content = content
        self.writes: list[tuple[str, Any]] = []
        self.failing: set[str] = set()

    async def list(self, rt: Any, namespace: str | None = None, **kwargs: Any) -> Obj:
        if rt is kinds.NAMESPACES:
            return await super().list(rt, namespace, **kwargs)
        if rt.plural in self.failing:
            raise errors.Forbidden(f"{rt.plural} is forbidden")
        return {"metadata": {"resourceVersion": "1"}, "items": copy.deepcopy(self.content.get(rt.plural, []))}

    async def request(self, method: str, path: str, **_: Any) -> Obj:
        self.writes.append((method, path))
        plural = path.rsplit("/", 1)[1]
        self.content[plural] = [o for o in self.content.get(plural, []) if o["metadata"].get("finalizers")]
        return {}

    async def update_status(self, _rt: Any, obj: Obj) -> Obj:
        self.writes.append(("status", copy.deepcopy(obj["status"])))
        return obj

    async def update(self, _rt: Any, obj: Obj, subresource: str | None = None) -> Obj:
        self.writes.append((subresource or "update", copy.deepcopy(obj["spec"])))
        return obj


def namespace(deleting: bool = True, finalizers: tuple[str, ...] = ("kubernetes",), phase: str = "Terminating") -> Obj:
    meta: Obj = {"name": "doomed", "resourceVersion": "3"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
            "spec": {"finalizers": list(finalizers)}, "status": {"phase": phase}}


def obj(name: str, *finalizers: str) -> Obj:
    meta: Obj = {"name": name, "namespace": "doomed"}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"metadata": meta}


def make(ns: Obj, content: dict[str, list[Obj]]) -> tuple[NamespaceController, ContentClient]:
    client = ContentClient(content)
    informers = SharedInformers(client)
    informers.get(kinds.NAMESPACES)._replace([ns], "1")
    return NamespaceController(client, informers, content_requeue_s=0.01), client


def test_namespaced_resources_are_every_namespaced_kind() -> None:
    plurals = {rt.plural for rt in namespaced_resources()}
    assert {"pods", "services", "configmaps", "deployments", "leases", "events"} <= plurals
    assert not plurals & {"namespaces", "nodes"}


async def test_empty_namespace_is_finalized_at_once() -> None:
    controller, client = make(namespace(), {})
    await controller.reconcile("doomed")
    statuses = [w for w in client.writes if w[0] == "status"]
    assert [c["status"] for c in statuses[0][1]["conditions"]] == ["False", "False"]
    assert client.writes[-1] == ("finalize", {"finalizers": []})


async def test_content_is_deleted_and_the_finalizer_waits_for_what_remains() -> None:
    content = {"pods": [obj("p1"), obj("p2")], "configmaps": [obj("held", "example.com/hold")], "secrets": []}
    controller, client = make(namespace(), content)
    await controller.reconcile("doomed")
    deleted = {path for method, path in client.writes if method == "DELETE"}
    assert deleted == {"/api/v1/namespaces/doomed/pods", "/api/v1/namespaces/doomed/configmaps"}
    assert content["pods"] == []
    assert not any(w[0] == "finalize" for w in client.writes)
    [(_, status)] = [w for w in client.writes if w[0] == "status"]
    remaining = next(c for c in status["conditions"] if c["type"] == CONTENT_REMAINING)
    assert remaining["status"] == "True" and "configmaps has 1 resource instances" in remaining["message"]
    assert await controller.queue.get() == "doomed"  # checked again soon
    controller.queue.done("doomed")


async def test_a_failing_kind_blocks_finalization_and_is_reported() -> None:
    controller, client = make(namespace(), {"pods": [obj("p")]})
    client.failing.add("secrets")
    await controller.reconcile("doomed")
    [(_, status)] = [w for w in client.writes if w[0] == "status"]
    failure = next(c for c in status["conditions"] if c["type"] == CONTENT_FAILURE)
    assert failure["status"] == "True" and "secrets: secrets is forbidden" in failure["message"]
    assert not any(w[0] == "finalize" for w in client.writes)


@pytest.mark.parametrize("ns", [
    namespace(deleting=False, phase="Active"),
    namespace(finalizers=()),
    namespace(finalizers=("example.com/other",)),
])
async def test_leaves_alone_active_or_already_finalized_namespaces(ns: Obj) -> None:
    controller, client = make(ns, {"pods": [obj("p")]})
    await controller.reconcile("doomed")
    assert client.writes == []


async def test_sets_terminating_phase_when_missing_and_keeps_other_finalizers() -> None:
    controller, client = make(namespace(finalizers=("kubernetes", "example.com/x"), phase="Active"), {})
    await controller.reconcile("doomed")
    assert client.writes[0][0] == "status" and client.writes[0][1]["phase"] == "Terminating"
    assert client.writes[-1] == ("finalize", {"finalizers": ["example.com/x"]})


async def test_unknown_namespace_is_nothing_to_do() -> None:
    controller, client = make(namespace(), {})
    await controller.reconcile("never-there")
    assert client.writes == []


def test_conditions_change_only_when_their_content_does() -> None:
    desired = deletion_conditions(DeletionResult(remaining={"pods": 1}))
    first = merge_conditions([], desired, "t1")
    assert first is not None and {c["lastTransitionTime"] for c in first} == {"t1"}
    assert merge_conditions(first, desired, "t2") is None
    done = merge_conditions(first, deletion_conditions(DeletionResult()), "t3")
    assert done is not None
    assert [(c["type"], c["status"], c["lastTransitionTime"]) for c in done] == [
        (CONTENT_FAILURE, "False", "t1"), (CONTENT_REMAINING, "False", "t3")]
