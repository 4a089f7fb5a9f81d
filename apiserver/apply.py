"""Field ownership: server-side apply and the metadata.managedFields every write keeps, as upstream does.

Upstream's fieldmanager (k8s.io/apimachinery/pkg/util/managedfields over sigs.k8s.io/structured-merge-diff)
in small pure functions.  A manager's fields are a set of paths kept in the FieldsV1 form itself, nested dicts
such as `{"f:data": {"f:one": {}}}`: `f:<name>` is a field or map key, `k:{"name":"c"}` a list item by its
keys, `v:"x"` an item of a set of scalars, and `.` marks a node that is a member while it has children.

* `apply` merges an applied configuration into the live object, removes what the same manager applied last
  time and no longer applies (unless another manager owns it), and refuses, with upstream's 409, to change
  fields other managers own unless forced (forcing takes them over).
* `record_update` gives the fields a create/update/patch changed to its manager's `Update` entry
  (`record_write` is the hook rest.py calls on every create and update, `manager_name` names the writer).

How a list is kept comes from the schema: a merge key makes it associative (items owned one by one), a
scalar list with the merge strategy is a set, any other list is atomic (owned whole); a kind or field the
schema does not know is deduced (objects are maps owned key by key, lists atomic).
"""
from __future__ import annotations

import copy
import functools
import json
import re
from datetime import datetime, timezone
from time import time as _epoch_s  # `time` names managedFields' timestamps here
from typing import Any

from common.api import schema as api_schema
from common.api.registry import ResourceType
from common.api.schema import Kind, Node
from common.errors import BadRequest, Conflict

Obj = dict[str, Any]
Fields = dict[str, Any]  # a FieldsV1 tree: path element -> subtree; {} is a member without children
SELF = "."
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS = 10  # more Update entries than this are merged into "ancient-changes" (upstream)

# How a value is owned (what structured-merge-diff calls its atom and element relationship).
LEAF, STRUCT, MAP, KEYED, SET, ATOMIC, DEDUCED = range(7)

# Where upstream's list-map keys differ from the strategic-merge-patch key in the schema (defaults included).
_LIST_KEYS: dict[str, tuple[tuple[str, Any], ...]] = {
    "v1.ContainerPort": (("containerPort", None), ("protocol", "TCP")),
    "v1.ServicePort": (("port", None), ("protocol", "TCP")),
    "v1.TopologySpreadConstraint": (("topologyKey", None), ("whenUnsatisfiable", None)),
}
# Structs and maps upstream marks +structType=atomic / +mapType=atomic: owned whole, replaced by apply.
_ATOMIC_STRUCTS = frozenset({"v1.LabelSelector", "v1.LocalObjectReference", "v1.ObjectReference",
                             "v1.NodeSelector", "v1.ConfigMapKeySelector", "v1.SecretKeySelector",
                             "v1.ObjectFieldSelector", "v1.ResourceFieldSelector", "v1.TypedLocalObjectReference"})
_ATOMIC_MAPS = frozenset({api_schema.PodSpec.fields["nodeSelector"], api_schema.ServiceSpec.fields["selector"]})
# Fields upstream's Go types hold by value (non-pointer structs, slices without omitempty): a zero object already
# has them, so filling them in makes their contents, not themselves, the writer's (no "." entry).
_HELD_BY_VALUE = frozenset({"metadata", "spec", "status", "template", "strategy", "updateStrategy", "resources",
                            "jobTemplate", "containers"})
# Never owned by anyone: identity and bookkeeping (upstream's stripMetaManager).
_STRIPPED: Fields = {"f:apiVersion": {}, "f:kind": {}, "f:metadata": {
    SELF: {}, **{f"f:{name}": {} for name in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                               "clusterName", "generation", "managedFields", "resourceVersion")}}}
_ABSENT = object()


# --- public API ---------------------------------------------------------------------------------------------

def apply(live: Obj | None, applied: Obj, manager: str, *, force: bool, schema: Node | None, api_version: str,
          now: str, subresource: str = "", ignored: frozenset[str] = frozenset()) -> Obj:
    """The object after server-side applying `applied` as `manager`, its managedFields updated.

    `live` is None when the object does not exist yet.  `ignored` names top-level fields this endpoint does
    not write (see `reset_fields`).  Raises Conflict (409) when the configuration changes fields other
    managers own and `force` is false.  The inputs are not modified.
    """
    if "managedFields" in (applied.get("metadata") or {}):
        raise BadRequest("metadata.managedFields must be nil")
    config = {key: value for key, value in copy.deepcopy(applied).items() if key not in ignored}
    current = live if live is not None else {}
    entries = _stored_entries(current)
    if live is not None and not entries:  # upstream's "before-first-apply": what exists was someone's
        entries = _updated_entries([], {}, live, "before-first-apply", schema, api_version, now, subresource,
                                   ignored)
    me = _Entry(manager, "Apply", api_version, subresource)
    previous = next((e for e in entries if e.key == me.key), None)
    others = [e for e in entries if e.key != me.key]
    applied_set = field_set(config, schema)
    merged = _merge(current, config, schema)
    if previous is not None:
        merged = _pruned(merged, previous.fields, functools.reduce(_union, (e.fields for e in others), applied_set),
                         schema)
    others = _taken_over(others, current, merged, manager, force, schema, api_version, ignored)
    time = now if merged != current else (previous.time if previous else None)
    merged["metadata"] = dict(merged.get("metadata") or {})  # may still be live's own
    _store(merged["metadata"], [e for e in (*others, me.but(fields=_strip(applied_set), time=time)) if e.fields])
    _refresh_last_applied(merged, applied, manager)
    return merged


def record_update(old: Obj | None, new: Obj, manager: str, schema: Node | None, api_version: str, now: str, *,
                  subresource: str = "", ignored: frozenset[str] = frozenset()) -> None:
    """Set new's managedFields after a create (old None) or update by `manager`: what changed becomes its own.

    The fields the write added or changed move to the manager's Update entry, removed fields leave every
    entry.  As upstream: a write may reset managedFields with [] or replace them with a valid list, anything
    else keeps the server's; an existing object without managedFields stays untracked.
    """
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return
    entries = _base_entries(old, new, subresource)
    if not entries and old is not None:
        meta.pop("managedFields", None)
        return
    entries = _updated_entries(entries, old or {}, new, manager, schema, api_version, now, subresource, ignored)
    _store(meta, _capped(entries))


def record_write(rt: ResourceType, old: Obj | None, new: Obj, manager: str | None,
                 subresource: str | None = None) -> None:
    """rest.py's hook on every create and update; manager None means the caller keeps managedFields itself."""
    if manager is None or subresource == "binding":  # upstream's binding bypasses the field manager too
        return
    record_update(old, new, manager, api_schema.schema_for(rt.api_version, rt.kind), rt.api_version, now_utc(),
                  subresource=subresource or "", ignored=reset_fields(rt, subresource))


def reset_fields(rt: ResourceType, subresource: str | None) -> frozenset[str]:
    """Top-level fields an endpoint never writes, so nobody owns them through it (upstream's reset fields)."""
    if subresource == "status":
        return frozenset({"spec", "metadata"})
    return frozenset({"status"}) if rt.has_status else frozenset()


@functools.lru_cache(maxsize=256)  # a few clients make most writes: the same answer every time
def manager_name(field_manager: str | None, user_agent: str | None) -> str:
    """The manager of a non-apply write: ?fieldManager=, else the User-Agent before its first "/" (upstream)."""
    if field_manager:
        return field_manager
    prefix = "".join(char for char in (user_agent or "").split("/")[0] if char.isprintable())
    while len(prefix.encode()) > 128:
        prefix = prefix[:-1]
    return prefix or "unknown"


def now_utc() -> str:
    return _utc_second(int(_epoch_s()))


@functools.lru_cache(maxsize=8)
def _utc_second(epoch_s: int) -> str:
    """Formatted once per second: every write stamps its managedFields entry with it."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- field sets of objects ----------------------------------------------------------------------------------

_CONTAINERS = (Kind.STRUCT, Kind.MAP, Kind.LIST, Kind.ANY)


@functools.cache
def _node_kind(node: Node) -> int:
    if node.kind == Kind.STRUCT:
        return ATOMIC if node.go_type in _ATOMIC_STRUCTS else STRUCT
    if node.kind == Kind.MAP:
        return ATOMIC if node in _ATOMIC_MAPS else MAP
    if node.kind == Kind.LIST:
        item = node.item
        if item is not None and item.kind == Kind.STRUCT and (node.merge_key or item.go_type in _LIST_KEYS):
            return KEYED
        if "merge" in node.patch_strategy.split(",") and item is not None and item.kind not in _CONTAINERS:
            return SET
        return ATOMIC
    return DEDUCED if node.kind == Kind.ANY else LEAF


def _kind(node: Node | None, value: Any) -> int:
    """How this value is owned; a value of another JSON type than the schema's is owned whole (a leaf)."""
    if type(value) is dict:
        kind = MAP if node is None else _node_kind(node)
        return kind if kind in (STRUCT, MAP) else MAP if kind == DEDUCED else LEAF
    if type(value) is list:
        kind = ATOMIC if node is None else _node_kind(node)
        return kind if kind in (KEYED, SET) else ATOMIC
    return LEAF


def _child(node: Node | None, key: str) -> Node | None:
    if node is None:
        return None
    return node.fields.get(key) if node.kind == Kind.STRUCT else node.value


def _is_named(node: Node | None, kind: int, key: str) -> bool:
    """A struct's own field (not a map key): upstream makes such a field a member once it owns anything below."""
    return kind == STRUCT and node is not None and key in node.fields


def _item_path_elements(items: list, node: Node | None, kind: int) -> list[str] | None:
    """`k:{...}` / `v:...` of each item, or None when an item cannot be keyed (the list is then kept whole)."""
    if kind == SET:
        if any(isinstance(item, (dict, list)) or item is None for item in items):
            return None
        return ["v:" + _json(item) for item in items]
    keys = _list_keys(node)
    elements = []
    for item in items:
        if not isinstance(item, dict):
            return None
        present = [f"{quoted}:{_json(value)}" for name, quoted, default in keys
                   if (value := item.get(name, default)) is not None]
        if not present:
            return None
        elements.append("k:{" + ",".join(present) + "}")
    return elements


@functools.cache
def _list_keys(node: Node) -> tuple[tuple[str, str, Any], ...]:
    """(name, name as JSON, default) of a keyed list's key fields, sorted by name as upstream serializes them."""
    keys = _LIST_KEYS.get(node.item.go_type) or ((node.merge_key, None),)
    return tuple((name, _json(name), default) for name, default in sorted(keys))


def _in_order(elements: Any) -> list[str]:
    """Path elements in upstream's order (all of one map, or all of one list)."""
    return sorted(elements, key=_element_order)


def field_set(obj: Obj, schema: Node | None) -> Fields:
    """The fields an applied configuration sets: every leaf, map key and list item it names (ToFieldSet)."""
    return _fields_below(obj, schema, _kind(schema, obj)) or {}


def _fields_below(value: Any, node: Node | None, kind: int) -> Fields | None:
    """The set below one value: None for a leaf or atomic value, which is owned only as a whole."""
    if kind in (STRUCT, MAP):
        out: Fields = {}
        for key in sorted(value):
            item, child = value[key], _child(node, key)
            below = _fields_below(item, child, _kind(child, item))
            member = below is None or item == {} or not _is_named(node, kind, key)
            _put(out, "f:" + key, below or {}, member)
        return out
    if kind in (KEYED, SET):
        elements = _item_path_elements(value, node, kind)
        if elements is None:
            return None
        item_node = node.item if node is not None else None
        items = dict(zip(elements, value))
        out = {}
        for element in _in_order(items):
            item = items[element]
            below = _fields_below(item, item_node, _kind(item_node, item)) if kind == KEYED else None
            _put(out, element, below or {}, True)
        return out
    return None


def _put(out: Fields, element: str, below: Fields, member: bool) -> None:
    if below:
        out[element] = {SELF: {}, **below} if member else below
    elif member:
        out[element] = {}


def _everything(value: Any, node: Node | None) -> Fields:
    """A value that appeared or went as a whole: it and every node below it (upstream's compare)."""
    if not value or type(value) is not dict and type(value) is not list:
        return {}
    kind = _kind(node, value)
    if kind in (STRUCT, MAP):
        out = {SELF: {}}
        for key in sorted(value):
            item = value[key]
            container = item and (type(item) is dict or type(item) is list)  # inline: this loop is hot
            out["f:" + key] = _everything(item, _child(node, key)) if container else {}
        return out
    if kind in (KEYED, SET):
        elements = _item_path_elements(value, node, kind)
        if elements is not None:
            item_node = node.item if node is not None else None
            items = dict(zip(elements, value))
            return {SELF: {}, **{e: _everything(items[e], item_node) for e in _in_order(items)}}
    return {}


def _created(value: Obj, node: Node | None) -> Fields:
    """What creating value adds to a zero object: everything but the fields held by value themselves."""
    out: Fields = {}
    struct = _kind(node, value) == STRUCT
    for key in sorted(value):
        item = value[key]
        if not item or type(item) is not dict and type(item) is not list:
            out["f:" + key] = {}
        elif struct and key in _HELD_BY_VALUE and key in node.fields:
            below = _created(item, node.fields[key]) if type(item) is dict else _everything(item, node.fields[key])
            below.pop(SELF, None)
            if below:
                out["f:" + key] = below
        else:
            out["f:" + key] = _everything(item, _child(node, key))
    return out


def _changes(old: Obj, new: Obj, schema: Node | None, ignored: frozenset[str]) -> tuple[Fields, Fields, Fields]:
    """(added, modified, removed) between two objects, leaving out the ignored top-level fields."""
    if ignored:
        old = {key: value for key, value in old.items() if key not in ignored}
        new = {key: value for key, value in new.items() if key not in ignored}
    if not old:  # a create: the common case, worth its own short walk
        return _created(new, schema), {}, {}
    return _compare(old, new, schema, _kind(schema, new))


def _compare(old: dict, new: dict, node: Node | None, kind: int) -> tuple[Fields, Fields, Fields]:
    """The changes below two maps or structs, or two keyed lists given as dicts (see `_keyed`)."""
    added: Fields = {}
    modified: Fields = {}
    removed: Fields = {}
    if kind in (STRUCT, MAP):
        for key in sorted(old.keys() | new.keys()):
            child = _child(node, key)
            before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if (before is _ABSENT or after is _ABSENT) and key in _HELD_BY_VALUE and _is_named(node, kind, key):
                before, after = _zero_if_absent(before, after), _zero_if_absent(after, before)
            _compare_one("f:" + key, before, after, child, added, modified, removed)
    else:  # two keyed lists, as dicts by path element
        item_node = node.item if node is not None else None
        for element in _in_order(old.keys() | new.keys()):
            _compare_one(element, old.get(element, _ABSENT), new.get(element, _ABSENT), item_node,
                         added, modified, removed)
    return added, modified, removed


def _zero_if_absent(value: Any, other: Any) -> Any:
    return value if value is not _ABSENT else ({} if isinstance(other, dict) else [])


def _keyed(items: list, node: Node | None, kind: int) -> dict[str, Any] | None:
    """A list's items by path element; None when one has no key or a key comes twice."""
    elements = _item_path_elements(items, node, kind)
    if elements is None or len(set(elements)) != len(elements):
        return None
    return dict(zip(elements, items))


def _compare_one(element: str, before: Any, after: Any, node: Node | None,
                 added: Fields, modified: Fields, removed: Fields) -> None:
    if before is _ABSENT:
        added[element] = _everything(after, node)
    elif after is _ABSENT:
        removed[element] = _everything(before, node)
    elif before != after:
        if type(after) is not dict and type(after) is not list:
            modified[element] = {}
            return
        kind = _kind(node, after)
        if kind in (KEYED, SET) and type(before) is list:
            before, after = _keyed(before, node, kind), _keyed(after, node, kind)
            if before is None or after is None:
                kind = ATOMIC  # items that cannot be matched one to one: the list is compared whole
        if kind in (STRUCT, MAP, KEYED, SET) and type(before) is type(after):
            a, m, r = _compare(before, after, node, kind)
            for tree, part in ((added, a), (modified, m), (removed, r)):
                if part:
                    tree[element] = part
        else:
            modified[element] = {}


# --- merging and pruning objects ----------------------------------------------------------------------------

def _merge(live: Any, config: Any, node: Node | None) -> Any:
    """The applied value merged into the live one: maps key by key, keyed lists and sets item by item."""
    if live is None or live is _ABSENT:
        return config
    kind = _kind(node, config)
    if kind in (STRUCT, MAP) and isinstance(live, dict):
        out = dict(live)
        for key, value in config.items():
            out[key] = _merge(live.get(key), value, _child(node, key))
        return out
    if kind in (KEYED, SET) and isinstance(live, list) and (live or config):
        merged = _merge_lists(live, config, node, kind)
        if merged is not None:
            return merged
    return config


def _merge_lists(live: list, config: list, node: Node | None, kind: int) -> list | None:
    """Items merged by key, in upstream's order; None when an item has no key (the list is then atomic)."""
    live_elements = _item_path_elements(live, node, kind)
    config_elements = _item_path_elements(config, node, kind)
    if live_elements is None or config_elements is None:
        return None
    if len(set(config_elements)) != len(config_elements):
        duplicate = next(e for e in config_elements if config_elements.count(e) > 1)
        raise BadRequest(f"duplicate entries for key {_element_text(duplicate)}")
    item_node = node.item if node is not None else None
    in_config = dict(zip(config_elements, config))
    in_live: dict[str, Any] = {}
    for element, item in zip(live_elements, live):
        in_live[element] = _ABSENT if element in in_live else item  # a repeated live item is not merged into
    return [_merge(in_live.get(element), in_config[element], item_node) if element in in_config else live[index]
            for element, index in _merged_order(live_elements, config_elements)]


def _merged_order(live: list[str], config: list[str]) -> list[tuple[str, int]]:
    """(element, live index) in structured-merge-diff's order for a merged list.

    Live-only items stay where they are; applied items come in the applied order, the shared ones where the
    live list has them as long as that agrees with the applied order.
    """
    in_config, in_live = set(config), set(live)
    shared = [e for e in config if e in in_live]
    out: list[tuple[str, int]] = []
    done: set[str] = set()
    li = ri = si = 0
    while li < len(live) or ri < len(config):
        next_shared = shared[si] if si < len(shared) else None
        if li < len(live) and ri < len(config):
            if live[li] == config[ri]:
                done.add(live[li])
                out.append((live[li], li))
                li, ri, si = li + 1, ri + 1, si + 1
                continue
            if live[li] in in_config and next_shared is not None and next_shared != live[li]:
                li += 1  # a shared item, but not the next one in the applied order
                continue
        if li < len(live):
            if live[li] not in in_config:
                out.append((live[li], li))
                li += 1
                continue
            if live[li] in done:
                li += 1
        if ri < len(config):
            done.add(config[ri])
            out.append((config[ri], -1))
            if next_shared == config[ri]:
                si += 1
            ri += 1
    return out


def _pruned(value: Any, last: Fields, owned: Fields | None, node: Node | None) -> Any:
    """value without what the applier owned last time (`last`) and nobody owns now (`owned`).

    A struct field counts as owned as soon as anything below it is (upstream's EnsureNamedFieldsAreMembers),
    so dropping a field's last owned leaf removes the whole field.  Returns a new value where it changed.
    """
    kind = _kind(node, value)
    if kind in (STRUCT, MAP):
        out = None
        for key, item in value.items():
            before = last.get("f:" + key)
            if before is None:
                continue
            now = owned.get("f:" + key) if owned else None
            named = _is_named(node, kind, key)
            if named or _is_member(before):
                if now is None or not (named or _is_member(now)):
                    out = out if out is not None else dict(value)
                    del out[key]
                    continue
            pruned = _pruned(item, before, now, _child(node, key)) if _has_children(before) else item
            if pruned is not item:
                out = out if out is not None else dict(value)
                if pruned or not item:
                    out[key] = pruned
                else:
                    del out[key]  # emptied by pruning: upstream leaves null, i.e. unset
        return value if out is None else out
    if kind in (KEYED, SET):
        elements = _item_path_elements(value, node, kind)
        if elements is None:
            return value
        item_node = node.item if node is not None else None
        kept = []
        for element, item in zip(elements, value):
            before = last.get(element)
            now = owned.get(element) if owned else None
            if before is not None and _is_member(before) and (now is None or not _is_member(now)):
                continue
            if before is not None and _has_children(before):
                item = _pruned(item, before, now, item_node)
            kept.append(item)
        return value if len(kept) == len(value) and all(a is b for a, b in zip(kept, value)) else kept
    return value


# --- set algebra on FieldsV1 trees (pure: inputs are shared with stored objects) -----------------------------

def _is_member(entry: Fields) -> bool:
    return not entry or SELF in entry


def _has_children(entry: Fields) -> bool:
    return any(element != SELF for element in entry)


def _union(a: Fields, b: Fields) -> Fields:
    if not b or a is b:
        return a
    if not a:
        return b
    out = dict(a)
    grew = False
    for element, entry in b.items():
        mine = out.get(element)
        if mine is None:
            out[element], grew = entry, True
        elif mine is not entry:
            both = _union(mine, entry)
            if (not mine or not entry) and both and SELF not in both:
                both = {SELF: {}, **both}  # a member leaf gaining children stays a member
            out[element] = both
    if grew:  # keep the canonical order every tree here is built in
        out = {element: out[element] for element in ([SELF] if SELF in out else []) + _in_order(set(out) - {SELF})}
    return out


def _difference(a: Fields, b: Fields) -> Fields:
    """Members of a that are not members of b (structure below kept); a itself when nothing goes."""
    out = None
    for element, entry in b.items():
        mine = a.get(element) if element != SELF else None
        if mine is None:
            continue
        left = _entry_difference(mine, entry)
        if left is mine:
            continue
        out = out if out is not None else dict(a)
        if left is None:
            del out[element]
        else:
            out[element] = left
    return a if out is None else out


def _entry_difference(mine: Fields, theirs: Fields) -> Fields | None:
    if not theirs:  # a member leaf: only mine's own membership goes
        if SELF not in mine:
            return None if not mine else mine
        rest = {element: entry for element, entry in mine.items() if element != SELF}
        return rest or None
    below = _difference(mine, theirs)
    keeps_self = _is_member(mine) and not _is_member(theirs)
    if below is mine and (keeps_self or not _is_member(mine)):
        return mine
    rest = {element: entry for element, entry in below.items() if element != SELF}
    if not rest:
        return {} if keeps_self else None
    return {SELF: {}, **rest} if keeps_self else rest


def _intersection(a: Fields, b: Fields) -> Fields:
    out: Fields = {}
    for element, mine in a.items():
        theirs = b.get(element) if element != SELF else None
        if theirs is None:
            continue
        below = _intersection(mine, theirs)
        _put(out, element, below, _is_member(mine) and _is_member(theirs))
    return out


def _strip(fields: Fields) -> Fields:
    return _difference(fields, _STRIPPED)


def paths(fields: Fields, prefix: str = "") -> list[str]:
    """Member paths as upstream prints them (`.spec.containers[name="c"].image`), members before children."""
    elements = _in_order(e for e in fields if e != SELF)
    out = [prefix + _element_text(e) for e in elements if _is_member(fields[e])]
    for element in elements:
        if _has_children(fields[element]):
            out.extend(paths(fields[element], prefix + _element_text(element)))
    return out


def _canonical(fields: Fields) -> Fields:
    """Upstream's serialization order: "." first, then fields, keys, values, indices, each sorted.

    Every tree built here is born in this order and the set operations keep it; only a client's needs sorting.
    """
    out: Fields = {SELF: {}} if SELF in fields and len(fields) > 1 else {}
    for element in _in_order(e for e in fields if e != SELF):
        out[element] = _canonical(fields[element])
    return out


@functools.lru_cache(maxsize=4096)
def _element_order(element: str) -> tuple:
    tag, text = element[:2], element[2:]
    try:
        if tag == "f:":
            return (0, text)
        if tag == "k:":
            return (1, tuple((name, _value_order(value)) for name, value in sorted(json.loads(text).items())))
        if tag == "v:":
            return (2, _value_order(json.loads(text)))
        if tag == "i:":
            return (3, int(text))
    except (ValueError, AttributeError):
        pass
    return (4, element)


def _value_order(value: Any) -> tuple:
    """structured-merge-diff's value order: numbers, strings, booleans, lists, maps, null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_order(item) for item in value))
    if isinstance(value, dict):
        return (4, _json(value))
    return (5,)


def _element_text(element: str) -> str:
    tag, text = element[:2], element[2:]
    try:
        if tag == "k:":
            fields = json.loads(text).items()
            return "[" + ",".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in fields) + "]"
        if tag == "v:":
            return f"[={json.dumps(json.loads(text), ensure_ascii=False)}]"
    except ValueError:
        pass
    return f"[{text}]" if tag == "i:" else "." + text


_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")
_PLAIN_STRING = re.compile(r'[^"\\\x00-\x1f<>&\u2028\u2029\x7f-\U0010ffff]*')


def _json(value: Any, *, sort_keys: bool = False) -> str:
    """JSON as Go's encoder writes it: compact, UTF-8, with <, >, & and the line separators escaped."""
    if type(value) is str and _PLAIN_STRING.fullmatch(value):
        return f'"{value}"'
    if type(value) is int:
        return str(value)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    return _GO_ESCAPED.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# --- managedFields entries ----------------------------------------------------------------------------------

class _Entry:
    """One managedFields entry; `stored` is its wire form while it is unchanged."""
    __slots__ = ("manager", "operation", "api_version", "subresource", "time", "fields", "stored", "key")

    def __init__(self, manager: str, operation: str, api_version: str, subresource: str = "",
                 time: str | None = None, fields: Fields | None = None, stored: Obj | None = None) -> None:
        self.manager, self.operation, self.api_version, self.subresource = manager, operation, api_version, subresource
        self.time, self.fields, self.stored = time, fields if fields is not None else {}, stored
        # Upstream's manager identifier: an applier is one manager whatever apiVersion it applied.
        self.key = (manager, operation, "" if operation == "Apply" else api_version, subresource)

    def but(self, *, fields: Fields, time: str | None) -> _Entry:
        return _Entry(self.manager, self.operation, self.api_version, self.subresource, time, fields)

    def without(self, *taken: Fields) -> _Entry:
        fields = self.fields
        for part in taken:
            fields = _difference(fields, part)
        return self if fields is self.fields else self.but(fields=fields, time=self.time)

    def wire(self) -> Obj:
        if self.stored is not None:
            return dict(self.stored)
        entry: Obj = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            entry["time"] = self.time
        entry.update(fieldsType="FieldsV1", fieldsV1=self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _updated_entries(entries: list[_Entry], old: Obj, new: Obj, manager: str, schema: Node | None,
                     api_version: str, now: str, subresource: str, ignored: frozenset[str]) -> list[_Entry]:
    """Upstream's Update: the changed fields leave every entry and join the manager's own (time: now)."""
    added, modified, removed = _changes(old, new, schema, ignored)
    changed = _strip(_union(added, modified))
    entries = [entry for e in entries if (entry := e.without(changed, removed)).fields]
    if not changed:
        return entries
    manager = manager or "unknown"
    key = (manager, "Update", api_version, subresource)
    previous = next((e for e in entries if e.key == key), None)
    fields = _union(previous.fields, changed) if previous else changed
    return [e for e in entries if e.key != key] + [_Entry(manager, "Update", api_version, subresource, now, fields)]


def _capped(entries: list[_Entry]) -> list[_Entry]:
    """At most MAX_UPDATE_MANAGERS Update entries: the oldest merge into one "ancient-changes" per version."""
    updaters = sorted((e for e in entries if e.operation == "Update"), key=lambda e: (_seconds(e.time), e.key))
    excess = len(updaters) - MAX_UPDATE_MANAGERS
    if excess <= 0:
        return entries
    buckets: dict[str, _Entry] = {}
    merged: list[_Entry] = []
    for entry in updaters:
        if excess <= 0:
            break
        bucket = buckets.get(entry.api_version)
        if bucket is None:
            buckets[entry.api_version] = entry
            continue
        buckets[entry.api_version] = _Entry("ancient-changes", "Update", entry.api_version, "", entry.time,
                                            _union(entry.fields, bucket.fields))
        merged += [bucket, entry]
        excess -= 1
    gone = {id(e) for e in merged}
    existing = {id(e) for e in entries}
    kept = [e for e in entries if id(e) not in gone]
    return kept + [b for b in buckets.values() if id(b) not in existing and id(b) not in gone]


@functools.lru_cache(maxsize=1024)
def _seconds(time: str | None) -> float:
    if not time:
        return 0.0
    try:
        return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _store(meta: Obj, entries: list[_Entry]) -> None:
    """Write entries in upstream's order: operation, time, manager, apiVersion, subresource."""
    if not entries:
        meta.pop("managedFields", None)
        return
    order = sorted(entries, key=lambda e: (e.operation, _seconds(e.time), e.manager, e.api_version, e.subresource))
    meta["managedFields"] = [entry.wire() for entry in order]


def _stored_entries(obj: Obj) -> list[_Entry]:
    """The entries the server wrote itself (already checked when they came in); [] if unreadable."""
    return _decoded((obj.get("metadata") or {}).get("managedFields"), trusted=True) or []


def _base_entries(old: Obj | None, new: Obj, subresource: str) -> list[_Entry]:
    """What an update starts from (upstream's decodeLiveOrNew): the request's valid list, a reset, or the live one."""
    live = (old.get("metadata") or {}).get("managedFields") if old else None
    given = new["metadata"].get("managedFields")
    if subresource or given is None or given == live:
        return _stored_entries(old) if old else []
    if given == [] or given == [{}]:
        return []
    return _decoded(given, trusted=False) or (_stored_entries(old) if old else [])


def _decoded(raw: Any, *, trusted: bool) -> list[_Entry] | None:
    """Entries of a managedFields list, None when any is invalid; untrusted ones are checked and normalized."""
    if not isinstance(raw, list):
        return None
    by_key: dict[tuple, _Entry] = {}
    for item in raw:
        entry = _decoded_entry(item, trusted)
        if entry is None:
            return None
        by_key[entry.key] = entry
    return list(by_key.values())


def _decoded_entry(item: Any, trusted: bool) -> _Entry | None:
    if not isinstance(item, dict) or item.get("operation") not in ("Apply", "Update"):
        return None
    api_version, fields = item.get("apiVersion"), item.get("fieldsV1", {})
    if not api_version or not isinstance(api_version, str) or item.get("fieldsType") != "FieldsV1":
        return None
    strings = [item.get(name, "") for name in ("manager", "subresource")]
    time = item.get("time")
    if not all(isinstance(s, str) for s in strings) or not isinstance(time, (str, type(None))):
        return None
    if not trusted:
        fields, time = _checked_fields(fields), _normalized_time(time)
        if fields is None or time is _ABSENT:
            return None
    elif not isinstance(fields, dict):
        return None
    return _Entry(strings[0], item["operation"], api_version, strings[1], time, fields, item if trusted else None)


def _checked_fields(fields: Any) -> Fields | None:
    """A client's FieldsV1 in canonical form, None when it does not parse (upstream then keeps the server's)."""
    if not isinstance(fields, dict):
        return None
    out: Fields = {}
    for element, entry in fields.items():
        if element == SELF:
            out[SELF] = {}
            continue
        canonical, below = _checked_element(element), _checked_fields(entry)
        if canonical is None or below is None:
            return None
        out[canonical] = below
    return _canonical(out)


def _checked_element(element: str) -> str | None:
    tag, text = element[:2], element[2:]
    try:
        if tag == "f:":
            return element
        if tag == "i:":
            return f"i:{int(text)}"
        value = json.loads(text)
        if tag == "k:" and isinstance(value, dict) and value:
            return "k:{" + ",".join(f"{_json(k)}:{_json(v)}" for k, v in sorted(value.items())) + "}"
        if tag == "v:":
            return "v:" + _json(value)
    except ValueError:
        pass
    return None


def _normalized_time(time: str | None) -> Any:
    if time is None:
        return None
    try:
        moment = datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return _ABSENT
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- conflicts and the client-side-apply bridge -------------------------------------------------------------

def _taken_over(others: list[_Entry], live: Obj, merged: Obj, manager: str, force: bool, schema: Node | None,
                api_version: str, ignored: frozenset[str]) -> list[_Entry]:
    """Other managers' entries once the applier has changed `live` into `merged`.

    A field they own that the apply changes is a conflict: refused (409) unless forced, when it becomes the
    applier's alone.  Fields the apply removed leave every entry.
    """
    added, modified, removed = _changes(live, merged, schema, ignored)
    changed = _union(added, modified)
    conflicts = {e.key: overlap for e in others if (overlap := _intersection(e.fields, changed))}
    if conflicts and not force:
        refused = _not_allowed_by_last_applied(conflicts, manager, live, schema, api_version)
        if refused:
            raise _conflict_error(refused, others)
    return [e.without(conflicts.get(e.key, {}), removed) for e in others]


def _conflict_error(conflicts: dict[tuple, Fields], entries: list[_Entry]) -> Conflict:
    """Upstream's 409: `Apply failed with N conflict(s): ...`, one FieldManagerConflict cause per field."""
    by_key = {e.key: e for e in entries}
    found = sorted((_identifier(by_key[key]), _who(by_key[key]), paths(fields)) for key, fields in conflicts.items())
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who}", "field": path}
              for _, who, fields in found for path in fields]
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: conflict with {found[0][1]}: {causes[0]['field']}"
    else:
        lines = [line for _, who, fields in found for line in (f"conflicts with {who}:", *(f"- {p}" for p in fields))]
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return Conflict(message, causes=causes)


def _identifier(entry: _Entry) -> str:
    manager, operation, version, subresource = entry.key
    parts = {"manager": manager, "operation": operation, "apiVersion": version, "subresource": subresource}
    return _json({name: value for name, value in parts.items() if value})


def _who(entry: _Entry) -> str:
    """How upstream names a manager in conflicts: `"kubectl"`, `"kubelet" with subresource "status" using v1`."""
    who = json.dumps(entry.manager, ensure_ascii=False)
    if entry.subresource:
        who += f' with subresource {json.dumps(entry.subresource)}'
    return who + (f" using {entry.api_version}" if entry.operation == "Update" else "")


def _not_allowed_by_last_applied(conflicts: dict[tuple, Fields], manager: str, live: Obj, schema: Node | None,
                                 api_version: str) -> dict[tuple, Fields]:
    """kubectl taking over from client-side apply: fields its last-applied annotation still matches are its own."""
    if manager != "kubectl":
        return conflicts
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last_applied = json.loads(text) if text else None
    except ValueError:
        return conflicts
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
        return conflicts
    added, modified, removed = _changes(last_applied, live, schema, frozenset())
    allowed = functools.reduce(_difference, (modified, added, removed), field_set(last_applied, schema))
    return {key: rest for key, fields in conflicts.items() if (rest := _difference(fields, allowed))}


def _refresh_last_applied(result: Obj, applied: Obj, manager: str) -> None:
    """kubectl's server-side apply keeps an existing last-applied annotation current (upstream's lastAppliedUpdater)."""
    annotations = result["metadata"].get("annotations")
    if manager != "kubectl" or not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    config = copy.deepcopy(applied)
    (config.get("metadata") or {}).get("annotations", {}).pop(LAST_APPLIED, None)
    result["metadata"]["annotations"] = {**annotations, LAST_APPLIED: _json(config, sort_keys=True) + "\n"}
