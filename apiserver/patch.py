"""The three PATCH formats: JSON merge patch, JSON patch and strategic merge patch, as pure functions on dicts.

Each follows upstream's implementation, not only its RFC: JSON merge patch and JSON patch behave as
evanphx/json-patch (which kube-apiserver uses), strategic merge patch as
k8s.io/apimachinery/pkg/util/strategicpatch on the apply side, directives and list ordering included.
Errors carry upstream's messages; where upstream answers 500 for a bad patch (its plain Go errors) we answer
400 BadRequest instead, so that bad input never produces a 500.  The inputs are never mutated.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import jsonpatch
import jsonpointer

from common.api.schema import Kind, Node, json_kind
from common.errors import BadRequest, Invalid, RequestEntityTooLarge, field_cause, invalid

# What kube-apiserver says when a patch does not apply: NewGenericServerResponse(422) drops the detail.
REJECTED = "the server rejected our request due to an error in our request"
MAX_JSON_PATCH_OPERATIONS = 10000
_ARRAY_IS_NO_OBJECT = ('couldn\'t get version/kind; json parse error: json: cannot unmarshal array into Go value of '
                       'type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
                       'Kind string "json:\\"kind,omitempty\\"" }')


# --- JSON merge patch (RFC 7386) ----------------------------------------------------------------------------

def merge_patch(target: dict, patch: Any) -> dict:
    """application/merge-patch+json: objects merge key by key, null deletes, anything else replaces."""
    if isinstance(patch, list):
        # evanphx returns the array itself, which the apiserver then fails to decode as an object.
        patched = json.dumps(json.dumps(patch, separators=(",", ":")))
        raise invalid("", "", [field_cause("patch", f"Invalid value: {patched}: {_ARRAY_IS_NO_OBJECT}")])
    if not isinstance(patch, dict):
        raise BadRequest("Invalid JSON Patch")
    document = copy.deepcopy(target)
    _merge_documents(document, copy.deepcopy(patch))
    return document


def _merge_documents(document: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            document.pop(key, None)
        elif document.get(key) is None:
            document[key] = _without_nulls(value)
        else:
            document[key] = _merged_value(document[key], value)


def _merged_value(current: Any, value: Any) -> Any:
    if not isinstance(current, dict):
        return _without_nulls(value)
    if not isinstance(value, dict):
        return value
    _merge_documents(current, value)
    return current


def _without_nulls(value: Any) -> Any:
    """A patch value taken whole: nulls in its objects mean nothing (evanphx keeps nulls inside arrays)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


# --- JSON patch (RFC 6902) ----------------------------------------------------------------------------------

def json_patch(target: dict, ops: Any) -> dict:
    """application/json-patch+json: a list of operations, all applied or none.

    A document that is not a list of objects is a 400, as Go's decoding of it is; an operation that cannot
    apply (unknown op, missing path or value, failed test) is upstream's bare 422.
    """
    operations = _decoded_operations(ops)
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(f"The allowed maximum operations in a JSON patch is "
                                    f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}")
    try:
        patch = jsonpatch.JsonPatch([_with_default_value(op) for op in copy.deepcopy(operations)])
        return patch.apply(target)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException,
            KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise Invalid(REJECTED) from err


def _decoded_operations(ops: Any) -> list:
    if ops is None:  # Go decodes null as an empty patch
        return []
    if not isinstance(ops, list):
        raise BadRequest(f"json: cannot unmarshal {json_kind(ops)} into Go value of type jsonpatch.Patch")
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise BadRequest(f"json: cannot unmarshal {json_kind(op)} into Go value of type jsonpatch.Operation")
    if any(op is None for op in ops):  # evanphx: "Unexpected kind: unknown"
        raise Invalid(REJECTED)
    return ops


def _with_default_value(op: dict) -> dict:
    # evanphx adds or replaces with null when an operation has no "value"; the Python library refuses.
    if op.get("op") in ("add", "replace") and "value" not in op:
        return {**op, "value": None}
    return op


# --- strategic merge patch ----------------------------------------------------------------------------------

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

# mergepatch's sentinel errors; these (and any other bad patch) are 400s.
BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"


def strategic_merge_patch(original: dict, patch: dict, schema: Node | None) -> dict:
    """application/strategic-merge-patch+json, with the directives kubectl sends.

    Lists with a merge key merge element by element, lists of scalars with the "merge" strategy take the union,
    other lists are replaced.  Maps merge key by key and null deletes a key.  Directives: `$patch`
    (delete|replace in maps and in list elements), `$retainKeys`, `$setElementOrder/<list>`,
    `$deleteFromPrimitiveList/<list>`.  With no schema (an unknown kind or field) maps still merge and lists
    are replaced: JSON merge semantics.
    """
    if patch is None:  # Go decodes null into an empty patch
        patch = {}
    if not isinstance(patch, dict):
        raise BadRequest(f"json: cannot unmarshal {json_kind(patch)} into Go value of type map[string]interface {{}}")
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def _merge_map(original: dict, patch: dict, schema: Node | None) -> dict:
    """Merge patch into original, in place (both are private copies)."""
    if DIRECTIVE in patch:
        return _map_directive(patch)
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, schema)
    for key, value in list(patch.items()):
        is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if is_delete_list:
            key = _list_key(key, DELETE_FROM_PRIMITIVE_LIST, BAD_PRIMITIVE_LIST)
        _merge_field(original, key, value, schema, is_delete_list)
    return original


_MISSING = object()


def _merge_field(original: dict, key: str, value: Any, schema: Node | None, is_delete_list: bool) -> None:
    if value is None:
        original.pop(key, None)
        return
    current = original.get(key, _MISSING)
    if current is _MISSING or _go_kind(current) != _go_kind(value):
        # A new value (or one of another JSON type) is taken whole; a deletion list never adds anything.
        if not is_delete_list:
            _set_cleaned(original, key, value)
        return
    child, strategy, merge_key = _patch_meta(schema, key)
    if isinstance(current, dict):
        original[key] = value if strategy == "replace" else _merge_map(current, value, child)
    elif isinstance(current, list):
        original[key] = _merge_list_field(current, value, _item_schema(child), strategy, merge_key,
                                          is_delete_list)[0]
    else:
        _set_cleaned(original, key, value)


def _map_directive(patch: dict) -> dict:
    directive = patch[DIRECTIVE]
    if _same(directive, "replace"):
        del patch[DIRECTIVE]
        return patch
    if _same(directive, "delete"):
        return {}
    raise _bad_patch_type(directive, patch)


def _patch_meta(schema: Node | None, key: str) -> tuple[Node | None, str, str]:
    """(child schema, patch strategy without retainKeys, merge key) of one field."""
    child = schema.child(key) if schema is not None else None
    if child is None:
        return None, "", ""
    strategies = [s for s in child.patch_strategy.split(",") if s and s != "retainKeys"]
    return child, strategies[0] if strategies else "", child.merge_key


def _item_schema(child: Node | None) -> Node | None:
    return child.item if child is not None and child.kind == Kind.LIST else None


def _set_cleaned(original: dict, key: str, value: Any) -> None:
    """Take a patch value whole, as upstream does: nulls dropped, objects carrying `$patch` dropped."""
    _discard_nulls(value)
    cleaned, keep = _remove_directives(value)
    if keep:
        original[key] = cleaned
    else:
        original.pop(key, None)


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for item in value.values():
            _discard_nulls(item)
    elif isinstance(value, list):
        for item in value:
            _discard_nulls(item)


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """Drop every object holding a `$patch` directive; (value, whether to keep it)."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        kept = {}
        for key, item in value.items():
            cleaned, keep = _remove_directives(item)
            if keep:
                kept[key] = cleaned
        return kept, True
    if isinstance(value, list):
        return [cleaned for cleaned, keep in map(_remove_directives, value) if keep], True
    return value, True


def _list_key(key: str, prefix: str, error: str) -> str:
    """The list a `<prefix>/<list>` directive key names."""
    head, slash, name = key.partition("/")
    if not slash or head != prefix:
        raise BadRequest(error)
    return name


# $retainKeys -------------------------------------------------------------------------------------------------

def _apply_retain_keys(original: dict, patch: dict) -> None:
    """Clear every key of original the directive does not list; the patch may only set listed keys."""
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise BadRequest(BAD_RETAIN_KEYS)
    names = {name for name in retained if isinstance(name, str)}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in names:
            raise BadRequest(BAD_RETAIN_KEYS)
    for key in [k for k in original if k not in names]:
        del original[key]


# $setElementOrder --------------------------------------------------------------------------------------------

def _merge_ordered_lists(original: dict, patch: dict, schema: Node | None) -> None:
    """Merge each list that has a `$setElementOrder/<list>` directive, then order it as the directive says."""
    for directive_key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise BadRequest(_bad_arg_type("[]interface {}", order))
        key = _list_key(directive_key, SET_ELEMENT_ORDER, BAD_SET_ELEMENT_ORDER)
        current, patched = _list_or_missing(original, key), _list_or_missing(patch, key)
        child, strategy, merge_key = _patch_meta(schema, key)
        _check_order_matches_patch(patched if patched is not _MISSING else [], order, merge_key)
        if current is _MISSING and patched is _MISSING:
            continue
        if patched is _MISSING:
            merged, live = current, current
        elif current is _MISSING:
            merged, live = _remove_directives(patched)[0], []
        else:
            merged, live = _merge_list_field(current, patched, _item_schema(child), strategy, merge_key, False)
        in_order, server_only = _partition(merged, order, merge_key)
        kind = _element_kind(live, [] if patched is _MISSING else patched)
        original[key] = _normalize_order(in_order, server_only, order, live, merge_key, kind)
        patch.pop(key, None)


def _list_or_missing(container: dict, key: str) -> Any:
    if key not in container:
        return _MISSING
    value = container[key]
    if not isinstance(value, list):
        raise BadRequest(_bad_arg_type("[]interface {}", value))
    return value


def _check_order_matches_patch(patched: list, order: list, merge_key: str) -> None:
    """The patch list's elements must appear in the directive, in the same relative order."""
    if not patched or not order:
        return
    elements = _split_deletions(patched)[0] if merge_key else patched
    at, seen = 0, 0
    while at < len(elements) and seen < len(order):
        if isinstance(elements[at], dict) and DIRECTIVE in elements[at]:
            at += 1
            continue
        if _merge_key_values_equal(elements[at], order[seen], merge_key):
            at += 1
        seen += 1
    if at < len(elements):
        raise BadRequest(f"The order in patch list:\n{_go_format(patched)}\n doesn't match {SET_ELEMENT_ORDER} "
                         f"list:\n{_go_format(order)}\n")


def _merge_key_values_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    for element in (left, right):
        if not isinstance(element, dict):
            raise BadRequest(_bad_arg_type("map[string]interface {}", element))
        if merge_key not in element:
            raise BadRequest(_no_merge_key(element, merge_key))
    return _same(left[merge_key], right[merge_key])


# lists -------------------------------------------------------------------------------------------------------

def _merge_list_field(current: list, patched: list, item: Node | None, strategy: str, merge_key: str,
                      is_delete_list: bool) -> tuple[list, list]:
    """A list field: merged when its strategy says so (or for a deletion list), else replaced by the patch.

    Returns (the new list, the live list as upstream's own slice of it reads afterwards); the second differs
    from `current` only when upstream's merge wrote into that slice's array (see `_SliceArray`).
    """
    if strategy != "merge" and not is_delete_list:
        return patched, current
    if not current and not patched:
        return current, current
    kind = _element_kind(current, patched)
    if kind != "map":
        if is_delete_list:
            doomed = {_hash_key(value) for value in patched}
            return [value for value in current if _hash_key(value) not in doomed], current
        merged = _deduplicate(current + patched)
        in_patch, server_only = _partition(merged, patched, merge_key)
        return _normalize_order(in_patch, server_only, patched, current, merge_key, kind), current
    if not merge_key:
        raise BadRequest(f"cannot merge lists without merge key for {_schema_name(item)}")
    array = _SliceArray(list(current))
    current, patched = _apply_element_directives(array, patched, merge_key)
    merged = _merge_elements(array, current, patched, merge_key, item)
    in_patch, server_only = _partition(merged, patched, merge_key)
    return _normalize_order(in_patch, server_only, patched, current, merge_key, kind), array.cells


class _SliceArray:
    """The array under upstream's slice of a live list, which its merge changes in place.

    Go deletes an element by shifting the rest left inside the same array, and appends into the room that
    frees; upstream then orders a `$setElementOrder` list by that array.  Replaying it keeps kubectl's
    "add one element, delete another" patches ordered exactly as upstream orders them.
    """

    def __init__(self, cells: list) -> None:
        self.cells = cells
        self.length = len(cells)
        self.shared = True  # false once an append outgrew the array (Go then copies to a new one)

    def delete_matching(self, merge_key: str, value: Any) -> None:
        while (index := _find_by_key(self.cells[:self.length], merge_key, value)) is not None:
            self.cells[index:self.length - 1] = self.cells[index + 1:self.length]
            self.length -= 1

    def append(self, element: Any) -> None:
        if self.shared and self.length < len(self.cells):
            self.cells[self.length] = element
            self.length += 1
        else:
            self.shared = False


def _apply_element_directives(array: _SliceArray, patched: list, merge_key: str) -> tuple[list, list]:
    """Handle `$patch` elements: delete drops matching elements, replace makes the list the patch's own.

    Returns (the list to merge into, the patch elements without directives).
    """
    plain, replace = [], False
    for element in patched:
        if DIRECTIVE not in element:
            plain.append(element)
            continue
        directive = element[DIRECTIVE]
        if _same(directive, "delete"):
            if merge_key not in element:
                raise BadRequest(_no_merge_key(element, merge_key))
            array.delete_matching(merge_key, element[merge_key])
        elif _same(directive, "replace"):
            replace = True  # keep going: other directive elements are dropped too
        elif _same(directive, "merge"):
            raise BadRequest("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, element)
    if replace:
        array.shared = False  # the patch's elements become the list: nothing more lands in the live array
        return plain, []
    return array.cells[:array.length], plain


def _merge_elements(array: _SliceArray, current: list, patched: list, merge_key: str, item: Node | None) -> list:
    """Merge each patch element into the element with the same merge key value, or append it."""
    merged = list(current)
    for element in patched:
        if merge_key not in element:
            raise BadRequest(_no_merge_key(element, merge_key))
        index = _find_by_key(merged, merge_key, element[merge_key])
        if index is None:
            merged.append(element)
            array.append(element)
        else:
            merged[index] = _merge_map(merged[index], element, item)
    return merged


def _find_by_key(elements: list, merge_key: str, value: Any) -> int | None:
    for index, element in enumerate(elements):
        if not isinstance(element, dict):
            raise BadRequest(f"value for key {index} is not a map")
        if merge_key in element and _same(element[merge_key], value):
            return index
    return None


def _deduplicate(values: list) -> list:
    """Drop repeated scalars the way upstream does: a later duplicate is replaced by the last element."""
    values, last = list(values), len(values) - 1
    i = 0
    while i < last:
        j = i + 1
        while j <= last:
            if _same(values[i], values[j]):
                values[j] = values[last]
                values.pop()
                last -= 1
                j -= 1
            j += 1
        i += 1
    return values


def _element_kind(*lists: list) -> str:
    """The one JSON type every element of the lists has ("map" for objects); lists of lists are refused."""
    first = ""
    for value in (value for values in lists for value in values):
        kind = _go_kind(value)
        if not first and kind == "slice":
            raise Invalid(REJECTED)  # mergepatch.ErrNoListOfLists: a 422 whose detail upstream drops
        if first and kind != first:
            raise BadRequest(f"list element types are not identical: {_go_format(list(lists))}")
        first = first or kind
    if not first:
        raise BadRequest("no elements in any of the given slices")
    return first


# ordering ----------------------------------------------------------------------------------------------------

def _partition(merged: list, by: list, merge_key: str) -> tuple[list, list]:
    """(elements present in `by`, the others), each in merged's order."""
    if not merge_key:
        wanted = {_hash_key(value) for value in by}
        return ([v for v in merged if _hash_key(v) in wanted], [v for v in merged if _hash_key(v) not in wanted])
    present, absent = [], []
    for element in merged:
        if not isinstance(element, dict):
            raise BadRequest(_bad_arg_type("map[string]interface {}", element))
        if merge_key not in element:
            raise BadRequest(_no_merge_key(element, merge_key))
        (present if _find_by_key(by, merge_key, element[merge_key]) is not None else absent).append(element)
    return present, absent


def _normalize_order(in_patch: list, server_only: list, patch_order: list, server_order: list, merge_key: str,
                     kind: str) -> list:
    """Patch elements in the patch's order, server-only ones in the live order, interleaved by the live order."""
    in_patch = _sort_by(in_patch, patch_order, merge_key, kind)
    server_only = _sort_by(server_only, server_order, merge_key, kind)
    return _interleave(server_only, in_patch, server_order, merge_key, kind)


def _sort_by(elements: list, order: list, merge_key: str, kind: str) -> list:
    """Stable sort by position in order; `$patch: delete` elements go last.

    Upstream's comparison calls an element missing from order "less" than anything, which is no ordering; an
    insertion sort, what Go's stable sort does on up to 20 elements, reproduces its result.  (Upstream only
    sorts elements it takes from order, where any stable sort agrees.)
    """
    deletions: list = []
    if kind == "map":
        for element in (*elements, *order):
            if not isinstance(element, dict):
                raise BadRequest(_bad_arg_type("map[string]interface {}", element))
            if merge_key not in element:
                raise BadRequest(_no_merge_key(element, merge_key))
        elements, deletions = _split_deletions(elements)
    position = _position_finder(order, merge_key, kind)
    result = list(elements)
    for i in range(1, len(result)):
        j = i
        while j > 0 and _before(position(result[j]), position(result[j - 1])):
            result[j], result[j - 1] = result[j - 1], result[j]
            j -= 1
    return result + deletions


def _before(left: int, right: int) -> bool:
    return left < right if left >= 0 and right >= 0 else True


def _split_deletions(elements: list) -> tuple[list, list]:
    kept, deletions = [], []
    for element in elements:
        if not isinstance(element, dict):
            raise BadRequest(_bad_arg_type("map[string]interface {}", element))
        is_deletion = _same(element.get(DIRECTIVE), "delete")
        (deletions if is_deletion else kept).append(element)
    return kept, deletions


def _interleave(server_only: list, in_patch: list, server_order: list, merge_key: str, kind: str) -> list:
    """Merge two ordered lists, taking a server-only element first only when the live order puts it first."""
    position = _position_finder(server_order, merge_key, kind)
    result, i, j = [], 0, 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            result.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            result.append(in_patch[j])
            j += 1
        else:
            left, right = position(server_only[i]), position(in_patch[j])
            if left >= 0 and right >= 0 and left < right:
                result.append(server_only[i])
                i += 1
            else:
                result.append(in_patch[j])
                j += 1
    return result


def _position_finder(order: list, merge_key: str, kind: str) -> Callable[[Any], int]:
    """A function giving an element's first position in order (by merge key value for maps), or -1."""
    def identity(element: Any) -> Any:
        if kind != "map":
            return element
        return element.get(merge_key) if isinstance(element, dict) else None

    keys = [identity(element) for element in order]
    first: dict[Any, int] = {}
    for index, key in enumerate(keys):
        first.setdefault(_hash_key(key), index)

    def position(element: Any) -> int:
        return first.get(_hash_key(identity(element)), -1)
    return position


# Go semantics -----------------------------------------------------------------------------------------------

def _go_kind(value: Any) -> str:
    """The Go type a JSON value decodes to; upstream merges two values only when these are equal."""
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "slice"
    return type(value).__name__  # bool, int (int64), float (float64), str, NoneType


def _same(left: Any, right: Any) -> bool:
    """Go's == on interface values: same dynamic type and equal (so True != 1 and 1 != 1.0)."""
    return _go_kind(left) == _go_kind(right) and left == right


def _hash_key(value: Any) -> Any:
    """A dict key with Go's identity for scalars (1, 1.0 and True stay distinct)."""
    if isinstance(value, (dict, list)):
        return ("json", json.dumps(value, sort_keys=True))
    return (_go_kind(value), value)


def _schema_name(item: Node | None) -> str:
    return "struct" if item is None or item.kind == Kind.STRUCT else item.kind


def _go_format(value: Any) -> str:
    """Go's %v of a decoded JSON value: map[k:v] with sorted keys, [a b], <nil>."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_go_format(value[key])}" for key in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_format(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """%v of a float64: shortest digits, exponent form below 1e-4 and from 1e6 up (1e+06, 1.5e-05)."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    magnitude = len(digits) + exponent - 1
    if -4 <= magnitude < 6:
        return format(Decimal(repr(value)).normalize(), "f")
    mantissa = "".join(map(str, digits[:1])) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if magnitude >= 0 else '-'}{abs(magnitude):02d}"


def _go_type_name(value: Any) -> str:
    names = {"map": "map[string]interface {}", "slice": "[]interface {}", "bool": "bool", "int": "int64",
             "float": "float64", "str": "string"}
    return names.get(_go_kind(value), "%!s(<nil>)")


def _bad_arg_type(expected: str, actual: Any) -> str:
    return f"expected a {expected}, but received a {_go_type_name(actual)}"


def _no_merge_key(element: Any, merge_key: str) -> str:
    return f"map: {_go_format(element)} does not contain declared merge key: {merge_key}"


def _bad_patch_type(directive: Any, patch: dict) -> BadRequest:
    return BadRequest(f"unknown patch type: {_go_string_verb(directive)} in map: {_go_format(patch)}")


def _go_string_verb(value: Any) -> str:
    """Go's %s of a decoded JSON value: strings as they are, other scalars as %!s(type=value)."""
    if isinstance(value, (str, dict, list)):
        return _go_format(value)
    if value is None:
        return "%!s(<nil>)"
    return f"%!s({_go_type_name(value)}={_go_format(value)})"
