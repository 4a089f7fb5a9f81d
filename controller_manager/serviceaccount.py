"""The service account controller: the `default` ServiceAccount exists in every active namespace.

Modelled on upstream pkg/controller/serviceaccount: keys are namespace names;
a new or changed Namespace, and a deleted managed ServiceAccount, enqueue the
namespace; `reconcile(namespace)` creates each managed account the cache
lacks.  Terminating namespaces are skipped (the apiserver refuses new
content in them).
"""
from __future__ import annotations

import logging
from typing import Any

from common import errors
from common.api import kinds
from common.controller import Controller
from common.informer import Informer, Obj, SharedInformers

log = logging.getLogger(__name__)

DEFAULT_ACCOUNTS = ("default",)


def is_active(namespace: Obj) -> bool:
    phase = (namespace.get("status") or {}).get("phase", "Active")
    return phase == "Active" and not namespace["metadata"].get("deletionTimestamp")


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"

    def __init__(self, client: Any, informers: SharedInformers, *,
                 service_accounts: tuple[str, ...] = DEFAULT_ACCOUNTS, **options: Any) -> None:
        super().__init__(client, **options)
        self.managed = service_accounts
        self.namespaces: Informer = self.add_informer(informers.get(kinds.NAMESPACES))
        self.accounts: Informer = self.add_informer(informers.get(kinds.SERVICE_ACCOUNTS))
        self.enqueue_on_events(self.namespaces)
        self.accounts.add_handler(on_delete=self._on_account_deleted)

    def _on_account_deleted(self, account: Obj) -> None:
        meta = account["metadata"]
        if meta.get("name") in self.managed and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.get(key)
        if namespace is None or not is_active(namespace):
            return
        for name in self.managed:
            if f"{key}/{name}" not in self.accounts:
                await self._create(key, name)

    async def _create(self, namespace: str, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
        try:
            await self.client.create(kinds.SERVICE_ACCOUNTS, body, namespace)
            log.info("%s: created service account %s/%s", self.name, namespace, name)
        except errors.AlreadyExists:
            pass  # the cache lags behind a create
        except errors.Forbidden as exc:
            if not _namespace_terminating(exc):
                raise


def _namespace_terminating(exc: errors.ApiError) -> bool:
    return any(c.get("reason") == "NamespaceTerminating" for c in exc.causes)
