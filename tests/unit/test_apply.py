"""Field ownership (apiserver/apply.py): FieldsV1 field sets, server-side apply's merge, prune and conflicts, and
the Update entries every other write records, checked against what upstream's fieldmanager produces."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apiserver import apply as fieldmanager
from apiserver import defaults
from apiserver.apply import apply, field_set, manager_name, paths, record_update
from common.api import kinds
from common.api.schema import schema_for
from common.errors import BadRequest, Conflict

T0, T1, T2 = "2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z", "2024-05-01T10:00:02Z"
CONFIGMAP = schema_for("v1", "ConfigMap")
POD = schema_for("v1", "Pod")
DEPLOYMENT = schema_for("apps/v1", "Deployment")
NO_STATUS = frozenset({"status"})


def configmap(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns"}, "data": data}


def deployment(*containers: dict[str, Any], replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": list(containers)}}}}


def container(name: str, image: str = "nginx:1.25", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def apply_cm(live: dict[str, Any] | None, manager: str, now: str = T0, force: bool = False,
             **data: str) -> dict[str, Any]:
    return apply(live, configmap(**data), manager, force=force, schema=CONFIGMAP, api_version="v1", now=now)


def apply_deploy(live: dict[str, Any] | None, config: dict[str, Any], manager: str = "kubectl",
                 force: bool = False) -> dict[str, Any]:
    return apply(live, config, manager, force=force, schema=DEPLOYMENT, api_version="apps/v1", now=T0,
                 ignored=NO_STATUS)


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


# -- field sets in FieldsV1 ---------------------------------------------------------------------------------


def test_field_set_of_an_applied_deployment() -> None:
    config = deployment(container("web", ports=[{"containerPort": 80}], command=["nginx", "-g"]))
    config["metadata"]["labels"] = {"app": "web"}
    config["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert field_set(config, DEPLOYMENT) == {
        "f:apiVersion": {}, "f:kind": {},
        "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}, "f:namespace": {}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # a LabelSelector is atomic: owned whole
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {'k:{"name":"web"}': {
                        ".": {}, "f:command": {}, "f:image": {}, "f:name": {},  # command is an atomic list
                        # ports are keyed by containerPort and protocol, whose default (TCP) fills in
                        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}},
                    "f:nodeSelector": {}}}}}  # an atomic map


def test_field_set_of_sets_maps_and_empty_values() -> None:
    config = configmap()  # an empty map is itself a member
    config["metadata"]["finalizers"] = ["b.io/x", "a.io/y"]
    config["metadata"]["annotations"] = {"note": "x"}
    fields = field_set(config, CONFIGMAP)
    assert fields["f:data"] == {}
    assert fields["f:metadata"]["f:finalizers"] == {'v:"a.io/y"': {}, 'v:"b.io/x"': {}}
    assert fields["f:metadata"]["f:annotations"] == {"f:note": {}}


def test_unknown_kinds_are_deduced_maps_by_key_and_lists_whole() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": {"w": 1}, "tags": ["a", "b"]}}
    assert field_set(obj, None) == {"f:apiVersion": {}, "f:kind": {}, "f:spec": {
        ".": {}, "f:size": {".": {}, "f:w": {}}, "f:tags": {}}}


def test_paths_are_printed_like_upstream() -> None:
    fields = {"f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}},
                         "f:ports": {'k:{"port":443,"protocol":"TCP"}': {}, 'k:{"port":80,"protocol":"TCP"}': {}}},
              "f:metadata": {"f:finalizers": {'v:"a.io/x"': {}}}}
    assert paths(fields) == ['.metadata.finalizers[="a.io/x"]', '.spec.containers[name="web"]',
                             '.spec.containers[name="web"].image', '.spec.ports[port=80,protocol="TCP"]',
                             '.spec.ports[port=443,protocol="TCP"]']


# -- apply: create, merge, remove dropped fields --------------------------------------------------------------


def test_apply_creates_with_an_apply_entry_and_leaves_its_input_alone() -> None:
    config = configmap(one="1")
    pristine = copy.deepcopy(config)
    created = apply(None, config, "kubectl", force=False, schema=CONFIGMAP, api_version="v1", now=T0)
    assert config == pristine
    assert created["data"] == {"one": "1"}
    assert created["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:one": {}}}}]


def test_apply_removes_what_the_manager_no_longer_applies() -> None:
    live = apply_cm(None, "kubectl", one="1", two="2")
    again = apply_cm(live, "kubectl", T1, one="1")
    assert again["data"] == {"one": "1"}
    assert owners(again) == {("kubectl", "Apply"): {"f:data": {"f:one": {}}}}
    assert again["metadata"]["managedFields"][0]["time"] == T1


def test_an_unchanged_apply_keeps_the_entry_time() -> None:
    live = apply_cm(None, "kubectl", one="1")
    assert apply_cm(live, "kubectl", T2, one="1")["metadata"]["managedFields"][0]["time"] == T0


def test_dropping_a_whole_struct_field_removes_it_defaults_and_all() -> None:
    live = apply_deploy(None, deployment(container("web")))
    live["spec"]["strategy"] = {"type": "Recreate"}  # defaulted, owned by no one
    config = deployment(container("web"))
    config["spec"]["template"]["spec"]["securityContext"] = {"runAsUser": 1000}
    live = apply_deploy(live, config)
    assert live["spec"]["template"]["spec"]["securityContext"] == {"runAsUser": 1000}
    dropped = apply_deploy(live, deployment(container("web")))
    assert "securityContext" not in dropped["spec"]["template"]["spec"]
    assert dropped["spec"]["strategy"] == {"type": "Recreate"}  # never applied: not this manager's to remove


def test_fields_another_manager_also_owns_survive_removal() -> None:
    live = apply_cm(None, "alice", one="1", two="2")
    live = apply_cm(live, "bob", two="2")  # the same value: both own .data.two
    assert owners(live)[("bob", "Apply")] == {"f:data": {"f:two": {}}}
    after = apply_cm(live, "alice", one="1")
    assert after["data"] == {"one": "1", "two": "2"}
    assert owners(after) == {("alice", "Apply"): {"f:data": {"f:one": {}}},
                             ("bob", "Apply"): {"f:data": {"f:two": {}}}}


def test_list_items_merge_by_key_and_dropped_items_go() -> None:
    live = apply_deploy(None, deployment(container("web"), container("log", "busybox")))
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"  # set by someone else
    updated = apply_deploy(live, deployment(container("web", "nginx:1.27")))
    containers = updated["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "nginx:1.27", "imagePullPolicy": "Always"}]


def test_list_items_of_other_managers_keep_their_place() -> None:
    live = apply_deploy(None, deployment(container("a"), container("c")))
    live = apply_deploy(live, deployment(container("b")), manager="sidecar-injector")
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["a", "c", "b"]
    grown = apply_deploy(live, deployment(container("a"), container("c"), container("d")))
    assert [c["name"] for c in grown["spec"]["template"]["spec"]["containers"]] == ["a", "c", "b", "d"]
    reordered = apply_deploy(live, deployment(container("c"), container("a")))  # as structured-merge-diff orders it
    assert [c["name"] for c in reordered["spec"]["template"]["spec"]["containers"]] == ["c", "b", "a"]


def test_an_applied_list_may_not_name_an_item_twice() -> None:
    live = apply_deploy(None, deployment(container("web")))
    with pytest.raises(BadRequest, match=r'duplicate entries for key \[name="web"\]'):
        apply_deploy(live, deployment(container("web"), container("web", "busybox")))


def test_sets_take_the_union_and_remove_only_their_own_items() -> None:
    def with_finalizers(*names: str) -> dict[str, Any]:
        config = configmap()
        del config["data"]
        config["metadata"]["finalizers"] = list(names)
        return config

    live = apply(None, with_finalizers("a.io/x", "a.io/y"), "a", force=False, schema=CONFIGMAP, api_version="v1",
                 now=T0)
    live = apply(live, with_finalizers("b.io/z"), "b", force=False, schema=CONFIGMAP, api_version="v1", now=T0)
    assert live["metadata"]["finalizers"] == ["a.io/x", "a.io/y", "b.io/z"]
    live = apply(live, with_finalizers("a.io/y"), "a", force=False, schema=CONFIGMAP, api_version="v1", now=T0)
    assert live["metadata"]["finalizers"] == ["a.io/y", "b.io/z"]


def test_atomic_lists_are_replaced_whole() -> None:
    live = apply_deploy(None, deployment(container("web", command=["sleep", "1"])))
    live = apply_deploy(live, deployment(container("web", command=["sleep"])))
    assert live["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep"]


def test_status_is_not_applied_through_the_main_resource() -> None:
    live = apply_deploy(None, deployment(container("web")))
    live["status"] = {"replicas": 1}
    config = deployment(container("web"))
    config["status"] = {"replicas": 9}
    after = apply_deploy(live, config)
    assert after["status"] == {"replicas": 1}
    assert "f:status" not in owners(after)[("kubectl", "Apply")]


def test_managed_fields_in_an_applied_configuration_are_refused() -> None:
    config = configmap(one="1")
    config["metadata"]["managedFields"] = []
    with pytest.raises(BadRequest, match="metadata.managedFields must be nil"):
        apply(None, config, "kubectl", force=False, schema=CONFIGMAP, api_version="v1", now=T0)


# -- conflicts and force --------------------------------------------------------------------------------------


def test_changing_a_field_another_applier_owns_is_a_conflict() -> None:
    live = apply_cm(None, "alice", one="1")
    with pytest.raises(Conflict) as raised:
        apply_cm(live, "bob", one="uno")
    err = raised.value
    assert err.code == 409 and err.reason == "Conflict"
    assert err.message == 'Apply failed with 1 conflict: conflict with "alice": .data.one'
    assert err.to_status()["details"] == {"causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice"', "field": ".data.one"}]}


def test_conflicts_with_several_managers_are_grouped_by_manager() -> None:
    live = apply_cm(None, "alice", one="1", two="2")
    live = apply_cm(live, "bob", three="3")
    bob = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "bob")
    bob["operation"] = "Update"  # bob's edit came from a plain update
    with pytest.raises(Conflict) as raised:
        apply_cm(live, "carol", one="x", two="y", three="z")
    assert raised.value.message == ('Apply failed with 3 conflicts: conflicts with "alice":\n- .data.one\n'
                                    '- .data.two\nconflicts with "bob" using v1:\n- .data.three')
    assert [c["field"] for c in raised.value.causes] == [".data.one", ".data.two", ".data.three"]


def test_same_value_is_shared_ownership_not_a_conflict() -> None:
    live = apply_cm(None, "alice", one="1")
    shared = apply_cm(live, "bob", one="1")
    assert set(owners(shared)) == {("alice", "Apply"), ("bob", "Apply")}
    assert shared["data"] == {"one": "1"}


def test_force_takes_the_field_over() -> None:
    live = apply_cm(None, "alice", one="1", two="2")
    forced = apply_cm(live, "bob", force=True, one="uno")
    assert forced["data"] == {"one": "uno", "two": "2"}
    assert owners(forced) == {("alice", "Apply"): {"f:data": {"f:two": {}}},
                              ("bob", "Apply"): {"f:data": {"f:one": {}}}}


def test_a_conflict_with_an_update_on_a_subresource_names_it() -> None:
    live = apply_deploy(None, deployment(container("web"), replicas=2))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    record_update(live, scaled, "kubectl-scale", DEPLOYMENT, "apps/v1", T1, subresource="scale")
    with pytest.raises(Conflict, match=r'^Apply failed with 1 conflict: conflict with "kubectl-scale" with '
                                       r'subresource "scale" using apps/v1: \.spec\.replicas$'):
        apply_deploy(scaled, deployment(container("web"), replicas=3))


def test_kubectl_takes_over_what_its_client_side_apply_last_applied() -> None:
    manifest = configmap(one="1")
    live = copy.deepcopy(manifest)
    live["metadata"]["annotations"] = {fieldmanager.LAST_APPLIED: json.dumps(manifest)}
    record_update(None, live, "kubectl-client-side-apply", CONFIGMAP, "v1", T0)
    changed = configmap(one="2")
    after = apply(live, changed, "kubectl", force=False, schema=CONFIGMAP, api_version="v1", now=T1)
    assert after["data"] == {"one": "2"}
    assert json.loads(after["metadata"]["annotations"][fieldmanager.LAST_APPLIED]) == changed
    with pytest.raises(Conflict):  # any other manager still conflicts
        apply(live, changed, "someone", force=False, schema=CONFIGMAP, api_version="v1", now=T1)


def test_the_first_apply_to_an_untracked_object_meets_before_first_apply() -> None:
    live = configmap(one="1")
    with pytest.raises(Conflict, match='conflict with "before-first-apply" using v1: .data.one'):
        apply_cm(live, "kubectl", one="2")
    assert owners(apply_cm(live, "kubectl", one="1")) == {
        ("before-first-apply", "Update"): {"f:data": {".": {}, "f:one": {}}},
        ("kubectl", "Apply"): {"f:data": {"f:one": {}}}}


# -- Update entries of other writes ----------------------------------------------------------------------------


def test_a_create_records_what_it_set_defaults_included() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}, "uid": "u-1"},
           "spec": {"containers": [container("main", ports=[{"containerPort": 80}])]},
           "status": {"phase": "Pending"}}
    defaults.apply_defaults(kinds.PODS, pod)
    record_update(None, pod, "kubectl-create", POD, "v1", T0, ignored=NO_STATUS)
    [entry] = pod["metadata"]["managedFields"]
    assert {k: v for k, v in entry.items() if k != "fieldsV1"} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1"}
    fields = entry["fieldsV1"]
    assert list(fields) == ["f:metadata", "f:spec"]  # identity and status are nobody's
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert fields["f:spec"]["f:containers"] == {'k:{"name":"main"}': {
        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
        "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
            ".": {}, "f:containerPort": {}, "f:protocol": {}}},
        "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}}
    assert fields["f:spec"]["f:restartPolicy"] == {} and fields["f:spec"]["f:securityContext"] == {}
    assert list(fields["f:spec"]) == sorted(fields["f:spec"])  # upstream's serialization order


def test_an_update_takes_the_fields_it_changes_from_other_managers() -> None:
    live = apply_cm(None, "kubectl", one="1", two="2")
    edited = copy.deepcopy(live)
    edited["data"].update(two="zwei", three="3")
    record_update(live, edited, "kubectl-edit", CONFIGMAP, "v1", T1)
    assert owners(edited) == {("kubectl", "Apply"): {"f:data": {"f:one": {}}},
                              ("kubectl-edit", "Update"): {"f:data": {"f:three": {}, "f:two": {}}}}
    removed = copy.deepcopy(edited)
    del removed["data"]["three"]
    record_update(edited, removed, "kubectl-edit", CONFIGMAP, "v1", T2)
    assert owners(removed)[("kubectl-edit", "Update")] == {"f:data": {"f:two": {}}}


def test_an_update_that_changes_nothing_leaves_managed_fields_as_they_were() -> None:
    live = apply_cm(None, "kubectl", one="1")
    same = copy.deepcopy(live)
    record_update(live, same, "someone", CONFIGMAP, "v1", T1)
    assert same == live


def test_status_writes_are_recorded_for_the_status_subresource() -> None:
    live = apply_deploy(None, deployment(container("web")))
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    record_update(live, new, "kube-controller-manager", DEPLOYMENT, "apps/v1", T1, subresource="status")
    entry = new["metadata"]["managedFields"][-1]
    assert entry["subresource"] == "status" and entry["fieldsV1"] == {"f:status": {
        "f:conditions": {".": {}, 'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}},
        "f:replicas": {}}}


def test_a_write_may_reset_or_replace_managed_fields_but_not_corrupt_them() -> None:
    live = apply_cm(None, "kubectl", one="1")
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = []
    record_update(live, reset, "admin", CONFIGMAP, "v1", T1)
    assert "managedFields" not in reset["metadata"]
    garbage = copy.deepcopy(live)
    garbage["metadata"]["managedFields"] = [{"manager": "x", "operation": "Delete", "fieldsV1": {}}]
    record_update(live, garbage, "admin", CONFIGMAP, "v1", T1)
    assert garbage["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    replaced = copy.deepcopy(live)
    replaced["metadata"]["managedFields"] = [{"manager": "new-owner", "operation": "Apply", "apiVersion": "v1",
                                              "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:one": {}}}}]
    record_update(live, replaced, "admin", CONFIGMAP, "v1", T1)
    assert owners(replaced) == {("new-owner", "Apply"): {"f:data": {"f:one": {}}}}


def test_an_untracked_object_stays_untracked() -> None:
    live = configmap(one="1")
    new = configmap(one="2")
    record_update(live, new, "admin", CONFIGMAP, "v1", T1)
    assert "managedFields" not in new["metadata"]


def test_update_managers_are_capped_into_ancient_changes() -> None:
    obj = apply_cm(None, "kubectl", base="0")
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = str(i)
        record_update(obj, new, f"writer-{i:02d}", CONFIGMAP, "v1", f"2024-05-01T10:00:{i:02d}Z")
        obj = new
    managers = [e["manager"] for e in obj["metadata"]["managedFields"] if e["operation"] == "Update"]
    assert len(managers) == 10 and "ancient-changes" in managers
    ancient = owners(obj)[("ancient-changes", "Update")]
    assert ancient == {"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}}


def test_entries_are_sorted_as_upstream_sorts_them() -> None:
    obj = apply_cm(None, "zeta", T1, z="1")
    obj = apply_cm(obj, "alpha", T2, a="1")
    new = copy.deepcopy(obj)
    new["data"]["u"] = "1"
    record_update(obj, new, "updater", CONFIGMAP, "v1", T0)
    assert [(e["operation"], e["manager"]) for e in new["metadata"]["managedFields"]] == [
        ("Apply", "zeta"), ("Apply", "alpha"), ("Update", "updater")]


@pytest.mark.parametrize("field_manager, user_agent, expected", [
    ("kubectl-client-side-apply", "kubectl/v1.33.0 (linux/amd64) kubernetes/abc", "kubectl-client-side-apply"),
    (None, "kubectl/v1.33.0 (linux/amd64) kubernetes/abc", "kubectl"),
    (None, "python-httpx/0.27.0", "python-httpx"),
    (None, None, "unknown"),
    (None, "/v1", "unknown"),
])
def test_manager_name(field_manager: str | None, user_agent: str | None, expected: str) -> None:
    assert manager_name(field_manager, user_agent) == expected
