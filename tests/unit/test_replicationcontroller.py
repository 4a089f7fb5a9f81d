"""core/v1 ReplicationController: registration, defaults, validation, table row, Scale view, controller selector."""
from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from apiserver.defaults import apply_defaults, initial_status
from apiserver.handlers import scale_of
from apiserver.tables import column_definitions, row_cells
from apiserver.validation import validate
from common.api import kinds
from common.api.registry import REGISTRY
from controller_manager.main import _registry
from controller_manager.replicaset import ReplicaSetController
from controller_manager.replicationcontroller import ReplicationControllerController, rc_selector

RC = kinds.REPLICATION_CONTROLLERS
APP = {"app": "web"}
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def template(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": dict(APP if labels is None else labels)},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec}}


def rc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web", "namespace": "default"}, "spec": {"template": template(), **spec}}


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    apply_defaults(RC, obj)
    return obj


# -- registration --------------------------------------------------------------------------------------------

def test_registered_like_upstream() -> None:
    assert (RC.group, RC.version, RC.kind, RC.plural, RC.namespaced) == (
        "", "v1", "ReplicationController", "replicationcontrollers", True)
    assert RC.short_names == ("rc",) and RC.categories == ("all",) and RC.subresources == ("status", "scale")
    assert RC in REGISTRY.all()
    assert RC.path("ns", "x", "scale") == "/api/v1/namespaces/ns/replicationcontrollers/x/scale"


# -- defaults ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, path, expected", [
    (rc(), ("spec", "replicas"), 1),
    (rc(replicas=0), ("spec", "replicas"), 0),
    (rc(), ("spec", "selector"), APP),
    (rc(selector={}), ("spec", "selector"), APP),
    (rc(selector={"app": "web", "x": "y"}), ("spec", "selector"), {"app": "web", "x": "y"}),
    (rc(), ("metadata", "labels"), APP),
    ({**rc(), "metadata": {"name": "web", "labels": {"team": "a"}}}, ("metadata", "labels"), {"team": "a"}),
    (rc(), ("spec", "template", "spec", "restartPolicy"), "Always"),
    (rc(), ("spec", "template", "spec", "containers", 0, "imagePullPolicy"), "IfNotPresent"),
    (rc(template=template({})), ("spec", "selector"), None),  # nothing to default from
])
def test_defaults(given: dict[str, Any], path: tuple[Any, ...], expected: Any) -> None:
    value: Any = defaulted(given)
    for step in path:
        value = value.get(step) if isinstance(value, dict) else value[step]
    assert value == expected


def test_defaults_are_idempotent_and_status_starts_at_zero() -> None:
    once = defaulted(rc())
    assert defaulted(once) == once
    assert initial_status(RC, once) == {"replicas": 0}


# -- validation ----------------------------------------------------------------------------------------------

def test_defaulted_rc_is_valid_and_selector_may_change() -> None:
    obj = defaulted(rc(replicas=3))
    assert validate(RC, obj) == []
    changed = copy.deepcopy(obj)
    changed["spec"]["selector"] = {"app": "web"}
    changed["spec"]["template"]["metadata"]["labels"] = {"app": "web", "v": "2"}
    assert validate(RC, changed, obj) == []  # unlike apps/v1, not immutable


@pytest.mark.parametrize("spec, field, reason, detail", [
    ({"replicas": -1}, "spec.replicas", "FieldValueInvalid", "must be greater than or equal to 0"),
    ({"minReadySeconds": -1}, "spec.minReadySeconds", "FieldValueInvalid", "must be greater than or equal to 0"),
    ({"selector": {}, "template": template({})}, "spec.selector", "FieldValueRequired", "Required value"),
    ({"selector": {"app": "other"}}, "spec.template.metadata.labels", "FieldValueInvalid",
     "`selector` does not match template `labels`"),
    ({"selector": {"app": "web", "tier": "fe"}}, "spec.template.metadata.labels", "FieldValueInvalid",
     "`selector` does not match template `labels`"),
    ({"selector": {"-bad": "web"}, "template": template({"-bad": "web"})}, "spec.selector", "FieldValueInvalid",
     "name part must consist of"),
    ({"template": None, "selector": APP}, "spec.template", "FieldValueRequired", "Required value"),
    ({"template": template(restartPolicy="Never")}, "spec.template.spec.restartPolicy", "FieldValueNotSupported",
     'supported values: "Always"'),
    ({"template": template(activeDeadlineSeconds=5)}, "spec.template.spec.activeDeadlineSeconds",
     "FieldValueForbidden", "activeDeadlineSeconds in ReplicationController is not Supported"),
    ({"template": {**template(), "spec": {"containers": [{"name": "web", "image": ""}]}}},
     "spec.template.spec.containers[0].image", "FieldValueRequired", "Required value"),
    ({"selector": {"app": 1}}, "spec.selector[app]", "FieldValueTypeInvalid", "must be of type string"),
])
def test_invalid(spec: dict[str, Any], field: str, reason: str, detail: str) -> None:
    obj = defaulted(rc(**spec))
    if spec.get("template", "") is None:
        obj["spec"].pop("template", None)
    causes = validate(RC, obj)
    assert [c for c in causes if c["field"] == field and c["reason"] == reason and detail in c["message"]], causes
    assert not [c for c in causes if c["reason"] == "InternalError"]


# -- table ---------------------------------------------------------------------------------------------------

def test_table_columns_and_row() -> None:
    assert [(c["name"], c["type"], c["priority"]) for c in column_definitions(RC)] == [
        ("Name", "string", 0), ("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0),
        ("Age", "string", 0), ("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1)]
    obj = defaulted(rc(replicas=3, selector={"tier": "fe", "app": "web"},
                       template=template({"app": "web", "tier": "fe"})))
    obj["metadata"]["creationTimestamp"] = "2024-05-01T11:55:00Z"
    obj["status"] = {"replicas": 2, "readyReplicas": 1}
    assert row_cells(RC, obj, NOW) == ["web", 3, 2, 1, "5m", "web", "nginx:1.27", "app=web,tier=fe"]
    assert row_cells(RC, {"metadata": {"name": "bare"}}, NOW)[-1] == "<none>"


# -- scale ---------------------------------------------------------------------------------------------------

def test_scale_view_renders_the_map_selector() -> None:
    obj = defaulted(rc(replicas=4, selector={"tier": "fe", "app": "web"},
                       template=template({"app": "web", "tier": "fe"})))
    obj["metadata"].update(uid="u1", resourceVersion="7")
    obj["status"] = {"replicas": 2}
    assert scale_of(RC, obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7"},
        "spec": {"replicas": 4}, "status": {"replicas": 2, "selector": "app=web,tier=fe"}}
    assert scale_of(RC, {"metadata": {"name": "x"}, "spec": {"selector": None}})["status"]["selector"] == ""


# -- controller ----------------------------------------------------------------------------------------------

def test_controller_reads_the_map_selector() -> None:
    obj = defaulted(rc(selector={"app": "web", "tier": "fe"}, template=template({"app": "web", "tier": "fe"})))
    selector = ReplicationControllerController.selector_of(obj)
    assert selector.matches({"app": "web", "tier": "fe", "pod-template-hash": "x"})
    assert not selector.matches({"app": "web"})
    assert rc_selector({"spec": {}}).empty and rc_selector({"spec": {"selector": "junk"}}).empty
    assert ReplicationControllerController.rt is RC and ReplicaSetController.rt is kinds.REPLICASETS
    assert issubclass(ReplicationControllerController, ReplicaSetController)


def test_registered_in_the_controller_manager() -> None:
    assert "replicationcontroller" in _registry()
