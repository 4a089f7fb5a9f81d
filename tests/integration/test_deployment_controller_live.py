"""The Deployment controller in-process against a live apiserver and etcd, with the real ReplicaSet controller.

No scheduler or kubelet runs here, so `fake_kubelet` (TEST SCAFFOLDING, clearly
not a kubelet) stands in for them: it marks every pod of the test's namespace
Running and Ready, and finishes graceful deletions (what a kubelet confirms
with a grace-0 delete).  Everything else is real: the apiserver, etcd, the
ReplicaSet controller creating and deleting pods, and the Deployment
controller rolling between ReplicaSets.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubectl_harness import Kubectl

from common import errors, kubeconfig
from common.api import kinds
from common.client import ApiClient
from common.informer import SharedInformers
from controller_manager import rollout as r
from controller_manager.deployment import DeploymentController
from controller_manager.replicaset import ReplicaSetController
from conftest import until

Obj = dict[str, Any]



def deployment(name: str, replicas: int, image: str, strategy: Obj | None = None) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


# -- TEST SCAFFOLDING: stands in for scheduler + kubelet -------------------------------------------

async def fake_kubelet(client: ApiClient, namespace: str) -> None:
    """Make every pod Running+Ready at once and complete every graceful deletion (no containers anywhere)."""
    while True:
        try:
            async for kind, pod in client.watch(kinds.PODS, namespace, timeout_seconds=60):
                if kind in ("ADDED", "MODIFIED"):
                    await _play_kubelet(client, namespace, pod)
        except errors.ApiError:
            await asyncio.sleep(0.1)


async def _play_kubelet(client: ApiClient, namespace: str, pod: Obj) -> None:
    name = pod["metadata"]["name"]
    try:
        if pod["metadata"].get("deletionTimestamp"):
            await client.delete(kinds.PODS, name, namespace, grace_period_seconds=0)
        elif (pod.get("status") or {}).get("phase") != "Running":
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            ready = {"type": "Ready", "status": "True", "lastTransitionTime": now}
            await client.patch(kinds.PODS, name, {"status": {"phase": "Running", "conditions": [ready]}},
                               namespace, subresource="status")
    except errors.NotFound:
        pass


# -- observers --------------------------------------------------------------------------------------

class ReplicaSetLog:
    """Every ReplicaSet state a watch delivered, in order: to check invariants at each observed moment."""

    def __init__(self) -> None:
        self.current: dict[str, Obj] = {}
        self.spec_sums: list[int] = []
        self.available_sums: list[int] = []  # status.availableReplicas over all ReplicaSets, per observed moment
        self.snapshots: list[dict[str, tuple[int, int]]] = []  # name -> (spec.replicas, status.replicas)
        self.added: list[str] = []

    async def follow(self, client: ApiClient, namespace: str) -> None:
        async for kind, rs in client.watch(kinds.REPLICASETS, namespace, timeout_seconds=300):
            if kind == "BOOKMARK":
                continue
            name = rs["metadata"]["name"]
            if kind == "ADDED":
                self.added.append(name)
            if kind == "DELETED":
                self.current.pop(name, None)
            elif kind in ("ADDED", "MODIFIED"):
                self.current[name] = rs
            self.spec_sums.append(r.sum_spec(list(self.current.values())))
            self.available_sums.append(sum(r.status_of(x, "availableReplicas") for x in self.current.values()))
            self.snapshots.append({n: (r.spec_replicas(x), r.status_of(x, "replicas"))
                                   for n, x in self.current.items()})

    async def caught_up(self, client: ApiClient, namespace: str) -> bool:
        """The watch has delivered the ReplicaSets' current versions (so the log covers the whole rollout)."""
        items = (await client.list(kinds.REPLICASETS, namespace))["items"]
        seen = {n: x["metadata"]["resourceVersion"] for n, x in self.current.items()}
        return seen == {x["metadata"]["name"]: x["metadata"]["resourceVersion"] for x in items}


@contextlib.asynccontextmanager
async def cluster(client: ApiClient, namespace: str) -> AsyncIterator[ReplicaSetLog]:
    """Deployment + ReplicaSet controllers on shared informers, the stand-in kubelet, and a ReplicaSet log."""
    informers = SharedInformers(client)
    deployments = DeploymentController(client, informers)
    replicasets = ReplicaSetController(client, informers)
    log = ReplicaSetLog()
    tasks = [asyncio.create_task(coro) for coro in (
        deployments.run(workers=2), replicasets.run(workers=2), fake_kubelet(client, namespace),
        log.follow(client, namespace))]
    await deployments.wait_for_sync()
    try:
        yield log
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for recorder in (deployments.recorder, replicasets.recorder):
            sender = getattr(recorder, "_sender", None)
            if sender is not None:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)


async def rollout_done(client: ApiClient, namespace: str, name: str) -> Obj | None:
    """What `kubectl rollout status` checks, on the live object."""
    d = await client.get(kinds.DEPLOYMENTS, name, namespace)
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    progressing = r.condition(status, r.PROGRESSING) or {}
    done = (status.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and status.get("updatedReplicas") == want and status.get("replicas") == want
            and status.get("availableReplicas") == want and progressing.get("reason") != r.TIMED_OUT)
    return d if done else None


async def replicasets_by_revision(client: ApiClient, namespace: str) -> dict[int, Obj]:
    items = (await client.list(kinds.REPLICASETS, namespace))["items"]
    return {r.revision_of(rs): rs for rs in items}


async def test_rolling_update_and_undo(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, cluster(client, namespace) as log:
        await client.create(kinds.DEPLOYMENTS, deployment("web", 4, "nginx:1"), namespace)
        d = await until(lambda: rollout_done(client, namespace, "web"), what="first rollout")
        revs = await replicasets_by_revision(client, namespace)
        assert list(revs) == [1] and d["metadata"]["annotations"][r.REVISION] == "1"
        first = revs[1]
        assert first["metadata"]["name"] == f"web-{first['spec']['template']['metadata']['labels'][r.UNIQUE_LABEL]}"
        assert first["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
        assert first["status"]["availableReplicas"] == 4
        assert r.condition(d["status"], r.AVAILABLE)["status"] == "True"
        assert r.condition(d["status"], r.PROGRESSING)["reason"] == r.NEW_RS_AVAILABLE
        await until(lambda: log.caught_up(client, namespace), what="the ReplicaSet watch")
        rollout_starts = len(log.available_sums)

        # kubectl set image: a strategic merge patch of the container
        patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "main"}],
                                                "containers": [{"name": "main", "image": "nginx:2"}]}}}}
        await client.patch(kinds.DEPLOYMENTS, "web", patch, namespace, patch_type="strategic")

        async def second_done() -> Obj | None:
            d = await rollout_done(client, namespace, "web")
            return d if d and d["metadata"]["annotations"].get(r.REVISION) == "2" else None
        await until(second_done, what="rollout to nginx:2")
        await until(lambda: log.caught_up(client, namespace), what="the ReplicaSet watch")
        revs = await replicasets_by_revision(client, namespace)
        assert sorted(revs) == [1, 2]
        assert r.spec_replicas(revs[2]) == 4 and r.spec_replicas(revs[1]) == 0
        assert revs[2]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
        assert max(log.spec_sums) == 4 + 1, log.spec_sums  # the surge was used, never exceeded, at any moment
        during = log.available_sums[rollout_starts:]
        assert min(during) >= 4 - 1, during  # and never fewer available than replicas - maxUnavailable

        # kubectl rollout undo: a JSON patch putting revision 1's template back (without the hash label)
        old_template = revs[1]["spec"]["template"]
        del old_template["metadata"]["labels"][r.UNIQUE_LABEL]
        await client.patch(kinds.DEPLOYMENTS, "web", [{"op": "replace", "path": "/spec/template", "value": old_template}],
                           namespace, patch_type="json")

        async def undone() -> Obj | None:
            d = await rollout_done(client, namespace, "web")
            return d if d and d["metadata"]["annotations"].get(r.REVISION) == "3" else None
        await until(undone, what="undo to revision 1's template")
        await until(lambda: log.caught_up(client, namespace), what="the ReplicaSet watch")
        revs = await replicasets_by_revision(client, namespace)
        assert sorted(revs) == [2, 3]
        assert revs[3]["metadata"]["name"] == first["metadata"]["name"]  # the old ReplicaSet, reused
        assert revs[3]["metadata"]["annotations"][r.REVISION_HISTORY] == "1"
        assert r.spec_replicas(revs[3]) == 4 and r.spec_replicas(revs[2]) == 0
        assert max(log.spec_sums) <= 5, log.spec_sums

        events = (await client.list(kinds.EVENTS, namespace, field_selector="involvedObject.name=web"))["items"]
        # past ten different messages the recorder combines them, as client-go does: the first ones stay whole
        messages = {e["message"].removeprefix("(combined from similar events): ") for e in events
                    if e["reason"] == "ScalingReplicaSet"}
        assert f"Scaled up replica set {first['metadata']['name']} from 0 to 4" in messages
        assert any(m.startswith("Scaled down replica set ") for m in messages), messages


async def test_recreate_scales_old_down_before_creating_new(apiserver: Any, namespace: str) -> None:
    async with ApiClient(apiserver.url) as client, cluster(client, namespace) as log:
        await client.create(kinds.DEPLOYMENTS, deployment("db", 3, "postgres:15", {"type": "Recreate"}), namespace)
        await until(lambda: rollout_done(client, namespace, "db"), what="first rollout")
        await until(lambda: log.caught_up(client, namespace), what="the ReplicaSet watch")
        [old_name] = log.added
        await client.patch(kinds.DEPLOYMENTS, "db", {"spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": "postgres:16"}]}}}}, namespace, patch_type="strategic")

        async def second_done() -> Obj | None:
            d = await rollout_done(client, namespace, "db")
            return d if d and d["metadata"]["annotations"].get(r.REVISION) == "2" else None
        await until(second_done, what="recreate to postgres:16")
        await until(lambda: log.caught_up(client, namespace), what="the ReplicaSet watch")
        new_name = log.added[1]
        when_new_appeared = next(s for s in log.snapshots if new_name in s)
        assert when_new_appeared[old_name] == (0, 0)  # old scaled to zero and its pods gone first
        assert all(not (s.get(old_name, (0, 0))[0] and s.get(new_name, (0, 0))[0]) for s in log.snapshots)
        pods = (await client.list(kinds.PODS, namespace))["items"]
        assert len(pods) == 3 and all(p["metadata"]["labels"][r.UNIQUE_LABEL] == new_name.split("-")[-1]
                                      for p in pods)


# -- the real kubectl ---------------------------------------------------------------------------------

@pytest.fixture(params=("1.33", "1.37"), ids=lambda v: f"kubectl-{v}")
def kubectl(request: pytest.FixtureRequest, kubectl_dir: Path, apiserver: Any, namespace: str,
            tmp_path: Path) -> Kubectl:
    config = tmp_path / "kubeconfig"
    kubeconfig.write(config, apiserver.url, namespace=namespace)
    return Kubectl(kubectl_dir / f"kubectl-{request.param}", config, tmp_path / "cache", namespace, request.param)


async def test_kubectl_rollout_commands(apiserver: Any, namespace: str, kubectl: Kubectl) -> None:
    async def run(*args: str) -> str:
        return await asyncio.to_thread(kubectl.ok, *args)

    async def rolled_out() -> None:
        out = await run("rollout", "status", "deploy/web", "--timeout=60s")
        assert 'deployment "web" successfully rolled out' in out, out

    async with ApiClient(apiserver.url) as client, cluster(client, namespace):
        await client.create(kinds.DEPLOYMENTS, deployment("web", 3, "nginx:1"), namespace)
        await rolled_out()
        await run("set", "image", "deploy/web", "main=nginx:2")
        await rolled_out()
        await run("rollout", "undo", "deploy/web")
        await rolled_out()
        history = await run("rollout", "history", "deploy/web")
        assert re.findall(r"^(\d+)\s", history, re.MULTILINE) == ["2", "3"], history
        revision3 = await run("rollout", "history", "deploy/web", "--revision=3")
        assert "nginx:1" in revision3, revision3
        await run("rollout", "restart", "deploy/web")
        await rolled_out()
        await run("scale", "deploy/web", "--replicas=5")
        await rolled_out()
        revs = await replicasets_by_revision(client, namespace)
        assert sorted(revs) == [2, 3, 4] and r.spec_replicas(revs[4]) == 5
        assert "kubectl.kubernetes.io/restartedAt" in revs[4]["spec"]["template"]["metadata"]["annotations"]
