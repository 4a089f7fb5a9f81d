"""core/v1 ReplicationControllers against a live apiserver and etcd: the RC controller in-process, scale, kubectl."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common import errors, kubeconfig
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager.replicationcontroller import ReplicationControllerController
from kubectl_harness import Kubectl
from conftest import until

Obj = dict[str, Any]



def rc(name: str, replicas: int, selector: dict[str, str] | None = None) -> Obj:
    """An RC as `kubectl create` would send it; with no selector the apiserver defaults it from the template."""
    spec: Obj = {"replicas": replicas,
                 "template": {"metadata": {"labels": {"app": name, "tier": "web"}},
                              "spec": {"containers": [{"name": "main", "image": "busybox:1.36",
                                                       "command": ["sleep", "3600"]}]}}}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name}, "spec": spec}


@contextlib.asynccontextmanager
async def running_controller(client: ApiClient) -> AsyncIterator[ReplicationControllerController]:
    controller = ReplicationControllerController(client, SharedInformers(client))
    task = asyncio.create_task(controller.run(workers=2))
    try:
        yield controller
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await controller.recorder.flush()  # type: ignore[attr-defined]
        sender = getattr(controller.recorder, "_sender", None)
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def owned_pods(client: ApiClient, namespace: str, uid: str) -> list[Obj]:
    items = (await client.list(kinds.PODS, namespace))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")
            and any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or [])]


async def settled(client: ApiClient, namespace: str, name: str, uid: str, count: int) -> list[Obj] | None:
    pods = await owned_pods(client, namespace, uid)
    current = await client.get(kinds.REPLICATION_CONTROLLERS, name, namespace)
    status = current.get("status") or {}
    ok = (len(pods) == count and status.get("replicas") == count
          and status.get("observedGeneration") == current["metadata"]["generation"])
    return pods if ok else None


async def test_rc_defaults_manages_pods_and_scales(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, running_controller(client):
        created = await client.create(kinds.REPLICATION_CONTROLLERS, rc("web", 3), namespace)
        assert created["spec"]["selector"] == {"app": "web", "tier": "web"}, "defaulted from the template labels"
        assert created["metadata"]["labels"] == {"app": "web", "tier": "web"}
        uid = created["metadata"]["uid"]

        pods = await until(lambda: settled(client, namespace, "web", uid, 3), what="3 replicas")
        for p in pods:
            [ref] = p["metadata"]["ownerReferences"]
            assert ref == {"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": uid,
                           "controller": True, "blockOwnerDeletion": True}
            assert p["metadata"]["name"].startswith("web-")
            assert p["metadata"]["labels"] == {"app": "web", "tier": "web"}

        scale = await client.get(kinds.REPLICATION_CONTROLLERS, "web", namespace, subresource="scale")
        assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
        assert scale["spec"] == {"replicas": 3}
        assert scale["status"] == {"replicas": 3, "selector": "app=web,tier=web"}

        patched = await client.patch(kinds.REPLICATION_CONTROLLERS, "web", {"spec": {"replicas": 5}}, namespace,
                                     subresource="scale")
        assert patched["spec"]["replicas"] == 5
        await until(lambda: settled(client, namespace, "web", uid, 5), what="5 replicas")
        assert (await client.get(kinds.REPLICATION_CONTROLLERS, "web", namespace))["spec"]["replicas"] == 5

        # A pod that stops matching the map selector is released and replaced.
        victim = (await owned_pods(client, namespace, uid))[0]["metadata"]["name"]
        await client.patch(kinds.PODS, victim, {"metadata": {"labels": {"tier": "debug"}}}, namespace)

        async def replaced() -> list[Obj] | None:
            pods = await settled(client, namespace, "web", uid, 5)
            return pods if pods and victim not in {p["metadata"]["name"] for p in pods} else None

        await until(replaced, what="the released pod replaced")
        released = await client.get(kinds.PODS, victim, namespace)
        assert not released["metadata"].get("ownerReferences")

        await client.patch(kinds.REPLICATION_CONTROLLERS, "web", {"spec": {"replicas": 1}}, namespace,
                           subresource="scale")
        await until(lambda: settled(client, namespace, "web", uid, 1), what="1 replica")


async def test_rc_validation_is_upstreams(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client:
        with pytest.raises(errors.Invalid) as caught:
            await client.create(kinds.REPLICATION_CONTROLLERS, rc("bad", 1, selector={"app": "other"}), namespace)
        assert [c["field"] for c in caught.value.causes] == ["spec.template.metadata.labels"]
        unlabelled = rc("bare", 1)
        unlabelled["spec"]["template"]["metadata"] = {}
        with pytest.raises(errors.Invalid) as caught:
            await client.create(kinds.REPLICATION_CONTROLLERS, unlabelled, namespace)
        assert ("spec.selector", "FieldValueRequired") in {(c["field"], c["reason"]) for c in caught.value.causes}

        await client.create(kinds.REPLICATION_CONTROLLERS, rc("ok", 0), namespace)
        with pytest.raises(errors.Invalid):
            await client.patch(kinds.REPLICATION_CONTROLLERS, "ok", {"spec": {"replicas": -1}}, namespace,
                               subresource="scale")
        # Unlike apps/v1, an RC's selector may change (template labels following).
        changed = await client.patch(kinds.REPLICATION_CONTROLLERS, "ok", {"spec": {"selector": {"tier": None}}},
                                     namespace)
        assert changed["spec"]["selector"] == {"app": "ok"}


@pytest.mark.parametrize("version", ["1.33", "1.37"])
def test_kubectl_get_rc(version: str, kubectl_dir: Path, apiserver: Any, namespace: str, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, apiserver.url, namespace=namespace)
    kubectl = Kubectl(kubectl_dir / f"kubectl-{version}", config, tmp_path / "cache", namespace, version)
    kubectl.apply_yaml(rc("front", 2))

    lines = kubectl.ok("get", "rc").splitlines()
    assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert lines[1].split()[:4] == ["front", "2", "0", "0"]

    wide = kubectl.ok("get", "replicationcontrollers", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[-3:] == ["main", "busybox:1.36", "app=front,tier=web"]

    assert "replicationcontroller/front" in kubectl.ok("get", "all", "-o", "name")
    assert kubectl.ok("scale", "rc", "front", "--replicas=4").strip() == "replicationcontroller/front scaled"
    assert kubectl.ok("get", "rc", "front", "-o", "jsonpath={.spec.replicas}") == "4"
