"""ServiceAccountController: `default` is created where missing, recreated after deletion, skipped when terminating."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from fake_listwatch import FakeListWatch

from common import errors
from common.api import kinds
from common.informer import SharedInformers
from controller_manager.serviceaccount import ServiceAccountController

Obj = dict[str, Any]


class RecordingClient(FakeListWatch):
    def __init__(self) -> None:
        super().__init__()
        self.created: list[tuple[str, str]] = []
        self.create_error: Exception | None = None

    async def create(self, rt: Any, obj: Obj, namespace: str | None = None, **_: Any) -> Obj:
        if self.create_error:
            raise self.create_error
        self.created.append((rt.plural, f"{namespace}/{obj['metadata']['name']}"))
        return copy.deepcopy(obj)


def namespace(name: str, phase: str = "Active", deleting: bool = False) -> Obj:
    meta: Obj = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


def account(namespace: str, name: str = "default") -> Obj:
    return {"metadata": {"name": name, "namespace": namespace}}


def make(namespaces: list[Obj], accounts: list[Obj]) -> tuple[ServiceAccountController, RecordingClient]:
    client = RecordingClient()
    informers = SharedInformers(client)
    informers.get(kinds.NAMESPACES)._replace(namespaces, "1")
    informers.get(kinds.SERVICE_ACCOUNTS)._replace(accounts, "1")
    return ServiceAccountController(client, informers), client


@pytest.mark.parametrize("ns, accounts, created", [
    (namespace("a"), [], [("serviceaccounts", "a/default")]),
    (namespace("a"), [account("a")], []),
    (namespace("a"), [account("a", "builder"), account("b")], [("serviceaccounts", "a/default")]),
    (namespace("a", phase="Terminating"), [], []),
    (namespace("a", deleting=True), [], []),
])
async def test_reconcile(ns: Obj, accounts: list[Obj], created: list[tuple[str, str]]) -> None:
    controller, client = make([ns], accounts)
    await controller.reconcile("a")
    assert client.created == created


async def test_missing_namespace_is_nothing_to_do() -> None:
    controller, client = make([], [])
    await controller.reconcile("gone")
    assert client.created == []


@pytest.mark.parametrize("error, raises", [
    (errors.AlreadyExists("exists"), False),
    (errors.Forbidden("terminating", causes=[{"reason": "NamespaceTerminating"}]), False),
    (errors.Forbidden("no"), True),
    (errors.ServiceUnavailable("down"), True),
])
async def test_create_errors(error: Exception, raises: bool) -> None:
    controller, client = make([namespace("a")], [])
    client.create_error = error
    if raises:
        with pytest.raises(type(error)):
            await controller.reconcile("a")
    else:
        await controller.reconcile("a")


async def test_namespace_events_and_default_account_deletion_enqueue_the_namespace() -> None:
    controller, _ = make([namespace("a"), namespace("b")], [account("a"), account("a", "other")])
    keys = set()
    while len(controller.queue):
        key = await controller.queue.get()
        controller.queue.done(key)
        keys.add(key)
    assert keys == {"a", "b"}
    accounts = controller.accounts
    accounts._remove("a/other", account("a", "other"))
    assert len(controller.queue) == 0
    accounts._remove("a/default", account("a"))
    assert await controller.queue.get() == "a"
