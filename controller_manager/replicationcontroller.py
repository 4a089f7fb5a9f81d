"""The ReplicationController controller: the ReplicaSet controller run over core/v1 ReplicationControllers.

Upstream (pkg/controller/replication) does the same: it wraps the ReplicaSet
controller and converts each RC.  The only difference that matters here is the
selector, a plain label map (`spec.selector: {app: web}`) rather than a
metav1.LabelSelector; it is read as matchLabels.  Owner references, events and
status (the same fields, ReplicaFailure condition included) name the RC.
"""
from __future__ import annotations

from typing import Any

from common.api import kinds
from common.api.registry import ResourceType
from common.informer import Obj
from common.selectors import LabelSelector, selector_from_spec

from .replicaset import ReplicaSetController


def rc_selector(rc: Obj) -> LabelSelector:
    """An RC's `spec.selector` map as a LabelSelector (empty, i.e. selecting nothing here, when unset)."""
    selector: Any = (rc.get("spec") or {}).get("selector")
    return selector_from_spec({"matchLabels": selector if isinstance(selector, dict) else {}})


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller-controller"
    rt: ResourceType = kinds.REPLICATION_CONTROLLERS

    @staticmethod
    def selector_of(rs: Obj) -> LabelSelector:
        return rc_selector(rs)
