"""The PATCH formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch, with
upstream's semantics, directives, ordering rules and error codes."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from apiserver.patch import REJECTED, json_patch, merge_patch, strategic_merge_patch
from common.api.schema import ANY, INT64, STRING, list_of, map_of, retain_keys, schema_for, set_of, struct
from common.errors import BadRequest, Invalid, RequestEntityTooLarge

# ---------------------------------------------------------------------------
# JSON merge patch


@pytest.mark.parametrize("target, patch, expected", [
    # RFC 7386 appendix A, the cases whose target and result are objects
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # lists are replaced whole, never merged
    ({"spec": {"ports": [{"port": 80}, {"port": 443}]}}, {"spec": {"ports": [{"port": 8080}]}},
     {"spec": {"ports": [{"port": 8080}]}}),
    ({"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"b": None, "c": "3"}}},
     {"metadata": {"labels": {"a": "1", "c": "3"}}}),
    # evanphx: a value taken whole loses the nulls of its objects, even inside arrays; array nulls stay
    ({}, {"a": [{"x": None, "y": 1}, None]}, {"a": [{"y": 1}, None]}),
    ({"a": None}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
    ({}, {}, {}),
])
def test_merge_patch(target: dict, patch: dict, expected: dict) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == expected
    assert (target, patch) == before


@pytest.mark.parametrize("patch", [None, "bar", 3, True])
def test_merge_patch_that_is_not_an_object_is_a_bad_request(patch: object) -> None:
    with pytest.raises(BadRequest, match="^Invalid JSON Patch$"):
        merge_patch({"a": 1}, patch)


def test_merge_patch_that_is_an_array_cannot_become_an_object() -> None:
    with pytest.raises(Invalid) as caught:
        merge_patch({"a": 1}, ["c"])
    assert caught.value.causes[0]["field"] == "patch"


# ---------------------------------------------------------------------------
# JSON patch

DOC = {"metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"replicas": 1, "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}


@pytest.mark.parametrize("ops, expected_change", [
    ([{"op": "replace", "path": "/spec/replicas", "value": 3}], {"spec.replicas": 3}),
    ([{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
     {"metadata.labels": {"app": "web", "tier": "fe"}}),
    ([{"op": "remove", "path": "/metadata/labels/app"}], {"metadata.labels": {}}),
    ([{"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}}],
     {"spec.containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}, {"name": "c"}]}),
    ([{"op": "remove", "path": "/spec/containers/0"}], {"spec.containers": [{"name": "b", "image": "y"}]}),
    ([{"op": "test", "path": "/spec/replicas", "value": 1}, {"op": "replace", "path": "/spec/replicas", "value": 2}],
     {"spec.replicas": 2}),
    ([{"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/name"}],
     {"metadata.labels": {"app": "web", "name": "web"}}),
    ([{"op": "move", "from": "/metadata/labels", "path": "/spec/selector"}],
     {"metadata": {"name": "web"}, "spec.selector": {"app": "web"}}),
    # evanphx adds null when an add has no value
    ([{"op": "add", "path": "/spec/paused"}], {"spec.paused": None}),
    (None, {}),
    ([], {}),
])
def test_json_patch_applies_operations_in_order(ops: object, expected_change: dict) -> None:
    expected = copy.deepcopy(DOC)
    for dotted, value in expected_change.items():
        *parents, last = dotted.split(".")
        holder = expected
        for step in parents:
            holder = holder[step]
        holder[last] = value
    before = copy.deepcopy(DOC)
    assert json_patch(DOC, ops) == expected
    assert DOC == before


@pytest.mark.parametrize("ops, message", [
    ({"op": "add", "path": "/a", "value": 1}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    ("[]", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
    (["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
    ([[{"op": "add"}]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
])
def test_malformed_json_patch_is_a_bad_request(ops: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        json_patch(DOC, ops)
    assert caught.value.message == message


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/spec/replicas", "value": 5}],
    [{"op": "remove", "path": "/spec/missing"}],
    [{"op": "replace", "path": "/spec/missing", "value": 1}],
    [{"op": "add", "path": "/nothere/x", "value": 1}],
    [{"op": "remove", "path": "/spec/containers/9"}],
    [{"op": "bogus", "path": "/spec"}],
    [{"op": "add", "value": 1}],
    [None],
    # all or nothing: the first operation would apply, the second cannot
    [{"op": "replace", "path": "/spec/replicas", "value": 7}, {"op": "remove", "path": "/nope"}],
])
def test_json_patch_that_cannot_apply_is_unprocessable(ops: list) -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(Invalid) as caught:
        json_patch(DOC, ops)
    assert (caught.value.code, caught.value.message) == (422, REJECTED)
    assert DOC == before


def test_json_patch_has_upstreams_operation_limit() -> None:
    ops = [{"op": "test", "path": "/spec/replicas", "value": 1}] * 10001
    with pytest.raises(RequestEntityTooLarge, match="got 10001"):
        json_patch(DOC, ops)


# ---------------------------------------------------------------------------
# strategic merge patch on upstream's own test type (strategicpatch.MergeItem), cases from its testdata

ITEM = struct("strategicpatch.MergeItem", name=STRING, value=STRING, other=STRING)
RETAIN_ITEM = struct("strategicpatch.RetainKeysMergeItem", name=STRING, value=STRING, other=STRING,
                     simpleMap=map_of(STRING), mergingIntList=set_of(INT64),
                     mergingList=list_of(ITEM, merge_key="name"), nonMergingList=list_of(ITEM))
ITEM.fields.update(mergingList=list_of(ITEM, merge_key="name"), nonMergingList=list_of(ITEM),
                   mergingIntList=set_of(INT64), nonMergingIntList=list_of(INT64), simpleMap=map_of(STRING),
                   replacingItem=replace(ANY, patch_strategy="replace"), retainKeysMap=retain_keys(RETAIN_ITEM),
                   retainKeysMergingList=list_of(ITEM, merge_key="name", retain_keys=True))


def named(*names: object, **fields: object) -> list[dict]:
    """Merging-list elements: named(1, 2) is [{"name": 1}, {"name": 2}]."""
    return [{"name": n, **fields} for n in names]


SMP_CASES = [
    # maps
    ("add, change and delete fields", {"name": "a", "value": "1", "other": "x"},
     {"value": "2", "other": None, "simpleMap": {"k": "v"}}, {"name": "a", "value": "2", "simpleMap": {"k": "v"}}),
    ("delete a map with $patch: delete", {"simpleMap": {"key1": "1", "key2": "1"}},
     {"simpleMap": {"$patch": "delete"}}, {"simpleMap": {}}),
    ("replace the whole object with $patch: replace", {"name": "1", "value": "1"},
     {"other": "a", "$patch": "replace"}, {"other": "a"}),
    ("a new value loses its nulls", {}, {"simpleMap": {"a": None, "b": "x"}}, {"simpleMap": {"b": "x"}}),
    ("a new object holding $patch is dropped", {"name": "n"}, {"simpleMap": {"$patch": "replace", "a": "b"}},
     {"name": "n"}),
    ("a replace-strategy field is replaced whole", {"replacingItem": {"a": 1, "b": 2}},
     {"replacingItem": {"c": 3}}, {"replacingItem": {"c": 3}}),
    # merging lists of maps
    ("merge lists of maps", {"mergingList": named(1) + named(2, value="2")},
     {"mergingList": named(3, value="3") + named(2, value="x", other="y")},
     {"mergingList": named(3, value="3") + named(1) + named(2, value="x", other="y")}),
    ("delete a field of an element", {"mergingList": named(1, value="1", other="a") + named(2)},
     {"mergingList": named(1, value=None)}, {"mergingList": named(1, other="a") + named(2)}),
    ("delete elements with $patch: delete, duplicates too",
     {"mergingList": named(1) + named(1) + named(2, value="a") + named(3) + named(3)},
     {"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]},
     {"mergingList": named(2, value="a")}),
    ("delete a missing element", {"mergingList": named(1)}, {"mergingList": [{"name": 9, "$patch": "delete"}]},
     {"mergingList": named(1)}),
    ("replace all elements", {"mergingList": named(1, 2)}, {"mergingList": [{"$patch": "replace"}]},
     {"mergingList": []}),
    ("replace with new elements", {"mergingList": named(1, 2)},
     {"mergingList": named(3) + [{"$patch": "replace"}]}, {"mergingList": named(3)}),
    ("merge into a list nested in a merging list",
     {"mergingList": [{"name": 1, "mergingList": named("a", value="1") + named("b")}]},
     {"mergingList": [{"name": 1, "mergingList": named("a", value="2") + named("c")}]},
     {"mergingList": [{"name": 1, "mergingList": named("a", value="2") + named("c") + named("b")}]}),
    ("non-merging lists nested in a merging list are replaced",
     {"mergingList": [{"name": 1, "nonMergingList": named("a", "b")}]},
     {"mergingList": [{"name": 1, "nonMergingList": named("c")}]},
     {"mergingList": [{"name": 1, "nonMergingList": named("c")}]}),
    ("preserve the order of the patch", {"mergingList": named(1) + named(2, value="b") + named(3)},
     {"mergingList": named(3, value="c") + named(1, value="a")},
     {"mergingList": named(2, value="b") + named(3, value="c") + named(1, value="a")}),
    ("non-merging lists are replaced", {"nonMergingList": named(1, 2)}, {"nonMergingList": named(3)},
     {"nonMergingList": named(3)}),
    # lists of scalars
    ("merging scalars take the union", {"mergingIntList": [1, 2]}, {"mergingIntList": [2, 3]},
     {"mergingIntList": [1, 2, 3]}),
    ("non-merging scalars are replaced", {"nonMergingIntList": [1, 2]}, {"nonMergingIntList": [2, 3]},
     {"nonMergingIntList": [2, 3]}),
    ("$deleteFromPrimitiveList", {"mergingIntList": [1, 2, 3, 3]},
     {"$deleteFromPrimitiveList/mergingIntList": [3, 9]}, {"mergingIntList": [1, 2]}),
    ("$deleteFromPrimitiveList works without the merge strategy", {"nonMergingIntList": [1, 2, 3]},
     {"$deleteFromPrimitiveList/nonMergingIntList": [2]}, {"nonMergingIntList": [1, 3]}),
    ("$deleteFromPrimitiveList never adds a list", {"name": "n"}, {"$deleteFromPrimitiveList/mergingIntList": [3]},
     {"name": "n"}),
    # $setElementOrder
    ("set the order of a merging list", {"mergingList": named(1, 2, 3)},
     {"$setElementOrder/mergingList": named(3, 1, 2)}, {"mergingList": named(3, 1, 2)}),
    ("set the order, server-only elements keep their place",
     {"mergingList": named(1) + named(2) + named(3, value="c") + named(9, value="server")},
     {"$setElementOrder/mergingList": named(3, 2, 1), "mergingList": named(2, value="b")},
     {"mergingList": named(3, value="c") + named(2, value="b") + named(1) + named(9, value="server")}),
    ("set the order, the order's missing elements are ignored", {"mergingList": named(1, 3)},
     {"$setElementOrder/mergingList": named(3, 2, 1), "mergingList": named(3, value="3") + named(1, value="1")},
     {"mergingList": named(3, value="3") + named(1, value="1")}),
    ("set the order of merging scalars, add and delete", {"mergingIntList": [1, 2, 3]},
     {"$setElementOrder/mergingIntList": [4, 2, 1], "$deleteFromPrimitiveList/mergingIntList": [3],
      "mergingIntList": [4]},
     {"mergingIntList": [4, 2, 1]}),
    # kubectl apply, three-way: delete 1 and add 3 while the server added 4.  Upstream's merge shifts its own
    # slice in place, which decides where 4 lands.
    ("add and delete with server-only elements", {"mergingList": named(1) + named(2, other="b") + named(4, other="c")},
     {"$setElementOrder/mergingList": named(2, 3), "mergingList": named(3) + [{"name": 1, "$patch": "delete"}]},
     {"mergingList": named(2, other="b") + named(4, other="c") + named(3)}),
    ("add two and delete one with server-only elements", {"mergingList": named(1, other="a") + named(4, other="c")},
     {"$setElementOrder/mergingList": named(2, 3), "mergingList": named(2, 3) + [{"name": 1, "$patch": "delete"}]},
     {"mergingList": named(4, other="c") + named(2, 3)}),
    # $retainKeys
    ("$retainKeys clears what it does not list", {"retainKeysMap": {"name": "foo", "value": "a", "other": "b"}},
     {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "c"}},
     {"retainKeysMap": {"name": "foo", "value": "c"}}),
    ("no $retainKeys, no clearing", {"retainKeysMap": {"name": "foo", "value": "a"}},
     {"retainKeysMap": {"other": "b"}}, {"retainKeysMap": {"name": "foo", "value": "a", "other": "b"}}),
    ("$retainKeys in merging list elements", {"retainKeysMergingList": named("foo", value="a", other="b")},
     {"retainKeysMergingList": [{"name": "foo", "$retainKeys": ["name", "other"]}]},
     {"retainKeysMergingList": named("foo", other="b")}),
    ("$retainKeys with an emptied nested list",
     {"retainKeysMap": {"name": "foo", "mergingList": named("a", "b")}},
     {"retainKeysMap": {"$retainKeys": ["name"], "mergingList": None}}, {"retainKeysMap": {"name": "foo"}}),
    # null and type changes
    ("null deletes, unmatched null is ignored", {"name": "n", "value": "v"}, {"value": None, "other": None},
     {"name": "n"}),
    ("a value of another JSON type replaces", {"simpleMap": {"a": "b"}}, {"simpleMap": "x"}, {"simpleMap": "x"}),
    ("a null list under $deleteFromPrimitiveList is deleted", {"mergingIntList": [1]},
     {"$deleteFromPrimitiveList/mergingIntList": None}, {}),
    ("unknown fields merge as JSON does", {"extra": {"a": 1, "list": [1, 2]}},
     {"extra": {"b": 2, "list": [3]}}, {"extra": {"a": 1, "b": 2, "list": [3]}}),
]


@pytest.mark.parametrize("original, patch, expected", [c[1:] for c in SMP_CASES], ids=[c[0] for c in SMP_CASES])
def test_strategic_merge_patch(original: dict, patch: dict, expected: dict) -> None:
    before = copy.deepcopy((original, patch))
    assert strategic_merge_patch(original, patch, ITEM) == expected
    assert (original, patch) == before


@pytest.mark.parametrize("original, patch, error, message", [
    ({"name": "n"}, {"$patch": "merge"}, BadRequest, "unknown patch type: merge in map: map[$patch:merge]"),
    ({"simpleMap": {"a": "b"}}, {"simpleMap": {"$patch": "foo", "a": 1}}, BadRequest,
     "unknown patch type: foo in map: map[$patch:foo a:1]"),
    ({"mergingList": named(1)}, {"mergingList": [{"name": 1, "$patch": "merge"}]}, BadRequest,
     "merging lists cannot yet be specified in the patch"),
    ({"mergingList": named(1)}, {"mergingList": [{"name": 1, "$patch": 3}]}, BadRequest,
     "unknown patch type: %!s(int64=3) in map: map[$patch:3 name:1]"),
    ({"mergingList": named(1, value="a")}, {"mergingList": [{"value": "b"}]}, BadRequest,
     "map: map[value:b] does not contain declared merge key: name"),
    ({"mergingList": named(1, 3, 2)},
     {"$setElementOrder/mergingList": named(1, 2, 3), "mergingList": named(3, 1)}, BadRequest,
     "The order in patch list:\n[map[name:3] map[name:1]]\n doesn't match $setElementOrder list:\n"
     "[map[name:1] map[name:2] map[name:3]]\n"),
    ({"retainKeysMap": {"name": "a"}}, {"retainKeysMap": {"$retainKeys": "name"}}, BadRequest,
     "invalid patch format of retainKeys"),
    ({"retainKeysMap": {"name": "a"}}, {"retainKeysMap": {"$retainKeys": ["name"], "value": "v"}}, BadRequest,
     "invalid patch format of retainKeys"),
    ({"mergingIntList": [1]}, {"$deleteFromPrimitiveListmergingIntList": [1]}, BadRequest,
     "invalid patch format of primitive list"),
    ({"mergingList": named(1)}, {"$setElementOrder": named(1)}, BadRequest,
     "invalid patch format of setElementOrder list"),
    ({"mergingIntList": [1]}, {"mergingIntList": ["a"]}, BadRequest,
     "list element types are not identical: [[1] [a]]"),
    ({"mergingIntList": [[1]]}, {"mergingIntList": [[2]]}, Invalid, REJECTED),
    ({"name": "n"}, ["not", "an", "object"], BadRequest,
     "json: cannot unmarshal array into Go value of type map[string]interface {}"),
])
def test_strategic_merge_patch_errors(original: dict, patch: object, error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        strategic_merge_patch(original, patch, ITEM)  # type: ignore[arg-type]
    assert caught.value.message == message


# ---------------------------------------------------------------------------
# strategic merge patch on real kinds, as kubectl sends it

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a/keep"],
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"old\":true}"}},
    "spec": {
        "replicas": 2,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [
                {"name": "web", "image": "nginx:1.26",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                {"name": "sidecar", "image": "envoy:1"}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}]}}}}


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def test_kubectl_set_image_changes_only_that_container() -> None:
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                                            "containers": [{"image": "nginx:1.27", "name": "web"}]}}}}
    result = strategic_merge_patch(DEPLOYMENT, patch, schema_for("apps/v1", "Deployment"))
    expected = copy.deepcopy(DEPLOYMENT)
    containers(expected)[0]["image"] = "nginx:1.27"
    assert result == expected


def test_kubectl_apply_second_run() -> None:
    last_applied = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}})
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
            "containers": [{"$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}, {"name": "A", "$patch": "delete"}],
                            "name": "web"}]}}}}
    result = strategic_merge_patch(DEPLOYMENT, patch, schema_for("apps/v1", "Deployment"))
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": last_applied}
    assert result["spec"]["replicas"] == 3
    assert [c["name"] for c in containers(result)] == ["sidecar", "web"]
    assert containers(result)[1]["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    assert containers(result)[1]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


@pytest.mark.parametrize("patch, path, expected", [
    # labels merge key by key
    ({"metadata": {"labels": {"tier": "fe", "app": None}}}, ("metadata", "labels"), {"tier": "fe"}),
    # finalizers: a set of scalars
    ({"metadata": {"finalizers": ["b/keep", "a/keep"]}}, ("metadata", "finalizers"), ["b/keep", "a/keep"]),
    # (an element the live list lacks goes before the server-only ones, as upstream's interleaving does)
    ({"metadata": {"finalizers": ["b/keep"]}}, ("metadata", "finalizers"), ["b/keep", "a/keep"]),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a/keep"]}}, ("metadata", "finalizers"), []),
    # container ports merge by containerPort
    ({"spec": {"template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 443}]}]}}}},
     ("spec", "template", "spec", "containers", 0, "ports"),
     [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]),
    # tolerations have no merge key: replaced
    ({"spec": {"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}}},
     ("spec", "template", "spec", "tolerations"), [{"key": "b", "operator": "Exists"}]),
    # a container deleted by name
    ({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}},
     ("spec", "template", "spec", "containers", -1, "name"), "web"),
    # volumes: $retainKeys switches the volume source
    ({"spec": {"template": {"spec": {"volumes": [
        {"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "settings"}}]}}}},
     ("spec", "template", "spec", "volumes"), [{"name": "data", "configMap": {"name": "settings"}}]),
    # the Deployment strategy: kubectl clears rollingUpdate when switching to Recreate
    ({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, ("spec", "strategy"),
     {"type": "Recreate"}),
])
def test_deployment_patches(patch: dict, path: tuple, expected: object) -> None:
    result = strategic_merge_patch(DEPLOYMENT, patch, schema_for("apps/v1", "Deployment"))
    for step in path:
        result = result[step]
    assert result == expected


def test_service_ports_merge_by_port_and_node_conditions_by_type() -> None:
    service = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    patched = strategic_merge_patch(service, {"spec": {"ports": [{"port": 80, "targetPort": 9090},
                                                                 {"name": "tls", "port": 443}]}},
                                    schema_for("v1", "Service"))
    assert patched["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 9090},
                                        {"name": "tls", "port": 443}]
    node = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "False"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
    patched = strategic_merge_patch(node, {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}},
                                    schema_for("v1", "Node"))
    assert patched["status"]["conditions"] == [{"type": "Ready", "status": "Unknown"},
                                               {"type": "DiskPressure", "status": "False"}]
    assert patched["status"]["addresses"] == node["status"]["addresses"]


def test_without_a_schema_lists_are_replaced_and_maps_merged() -> None:
    original = {"spec": {"containers": [{"name": "a", "image": "x"}], "labels": {"a": "1"}}}
    patch = {"spec": {"containers": [{"name": "b"}], "labels": {"b": "2"}}}
    assert strategic_merge_patch(original, patch, None) == {
        "spec": {"containers": [{"name": "b"}], "labels": {"a": "1", "b": "2"}}}


def test_strategic_merge_patch_never_mutates_its_inputs() -> None:
    original, patch = copy.deepcopy(DEPLOYMENT), {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a/keep"], "labels": None},
        "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                                       "containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}]}}}}
    before = copy.deepcopy((original, patch))
    result = strategic_merge_patch(original, patch, schema_for("apps/v1", "Deployment"))
    assert (original, patch) == before
    containers(result)[0]["image"] = "changed"
    assert (original, patch) == before
