"""NodeIpamController: /24s from the cluster CIDR, unique, existing ones respected, released on node deletion."""
from __future__ import annotations

from typing import Any

import pytest
from fake_listwatch import FakeListWatch

from common.api import kinds
from common.informer import SharedInformers
from controller_manager.nodeipam import CIDRExhausted, CidrSet, NodeIpamController

Obj = dict[str, Any]


class RecordingClient(FakeListWatch):
    def __init__(self) -> None:
        super().__init__()
        self.patches: list[tuple[str, Obj]] = []

    async def patch(self, rt: Any, name: str, patch: Obj, namespace: str | None = None, **_: Any) -> Obj:
        assert rt is kinds.NODES
        self.patches.append((name, patch))
        return {}


class FakeRecorder:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def record(self, _obj: Obj, _type: str, reason: str, _message: str) -> None:
        self.reasons.append(reason)


def node(name: str, cidr: str | None = None) -> Obj:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"metadata": {"name": name}, "spec": spec}


def make(nodes: list[Obj], **options: Any) -> tuple[NodeIpamController, RecordingClient, SharedInformers]:
    client = RecordingClient()
    informers = SharedInformers(client)
    informers.get(kinds.NODES)._replace(nodes, "1")
    return NodeIpamController(client, informers, recorder=FakeRecorder(), **options), client, informers


def assigned(client: RecordingClient) -> dict[str, str]:
    return {name: patch["spec"]["podCIDR"] for name, patch in client.patches}


@pytest.mark.parametrize("cluster, mask, cidr, index", [
    ("10.244.0.0/16", 24, "10.244.0.0/24", 0),
    ("10.244.0.0/16", 24, "10.244.7.0/24", 7),
    ("10.244.0.0/16", 24, "10.244.7.0/25", None),
    ("10.244.0.0/16", 24, "10.245.0.0/24", None),
    ("10.244.0.0/16", 24, "10.244.7.1/24", None),
    ("10.244.0.0/16", 24, "garbage", None),
    ("10.244.0.0/16", 26, "10.244.0.192/26", 3),
    ("fd00::/104", 120, "fd00::300/120", 3),
])
def test_cidr_set_index_of(cluster: str, mask: int, cidr: str, index: int | None) -> None:
    assert CidrSet(cluster, mask).index_of(cidr) == index


def test_cidr_set_allocates_in_turn_skips_used_and_reuses_released() -> None:
    cidrs = CidrSet("10.0.0.0/30", 31)
    assert cidrs.occupy("10.0.0.0/31")
    assert cidrs.allocate() == "10.0.0.2/31"
    with pytest.raises(CIDRExhausted):
        cidrs.allocate()
    cidrs.release("10.0.0.0/31")
    assert cidrs.allocate() == "10.0.0.0/31"


def test_mask_must_fit_the_cluster_cidr() -> None:
    with pytest.raises(ValueError):
        CidrSet("10.244.0.0/16", 8)


async def test_nodes_get_unique_cidrs_around_existing_ones() -> None:
    controller, client, _ = make([node("a"), node("b", "10.244.0.0/24"), node("c"), node("d", "10.244.2.0/24")])
    for name in "abcd":
        await controller.reconcile(name)
    assert assigned(client) == {"a": "10.244.1.0/24", "c": "10.244.3.0/24"}
    assert client.patches[0][1] == {"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}}


async def test_a_node_not_yet_updated_in_the_cache_gets_the_same_cidr_again() -> None:
    controller, client, _ = make([node("a")])
    await controller.reconcile("a")
    await controller.reconcile("a")
    assert [p[1]["spec"]["podCIDR"] for p in client.patches] == ["10.244.0.0/24", "10.244.0.0/24"]


async def test_a_deleted_nodes_cidr_is_released_and_given_out_again() -> None:
    controller, client, informers = make([node("a"), node("b")], cluster_cidr="10.9.0.0/23")
    await controller.reconcile("a")
    await controller.reconcile("b")
    nodes = informers.get(kinds.NODES)
    nodes._upsert(node("a", "10.9.0.0/24"))
    nodes._upsert(node("b", "10.9.1.0/24"))
    nodes._upsert(node("c"))
    with pytest.raises(CIDRExhausted):
        await controller.reconcile("c")
    assert controller.recorder.reasons == ["CIDRNotAvailable"]  # type: ignore[attr-defined]
    nodes._remove("a", node("a", "10.9.0.0/24"))
    await controller.reconcile("a")
    await controller.reconcile("c")
    assert client.patches[-1] == ("c", {"spec": {"podCIDR": "10.9.0.0/24", "podCIDRs": ["10.9.0.0/24"]}})


async def test_cidrs_outside_the_cluster_cidr_are_ignored() -> None:
    controller, client, _ = make([node("a", "192.168.0.0/24"), node("b")])
    await controller.reconcile("a")
    await controller.reconcile("b")
    assert assigned(client) == {"b": "10.244.0.0/24"}
