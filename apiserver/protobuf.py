"""Kubernetes protobuf bodies (`k8s\\x00` + runtime.Unknown) turned into the JSON wire dicts, and back.

kubectl's generator subcommands (`create namespace|deployment|configmap|secret|service|job|cronjob|...`) POST
their objects as application/vnd.kubernetes.protobuf, with no JSON fallback.  No message layout is written out
here: each kind's messages are derived from common/api/schema.py, whose fields carry upstream's protobuf field
numbers, and built into message classes with Google's protobuf library, which does the wire format.  Walking a
parsed message along the schema then gives the dict upstream's JSON encoder prints for the same Go object:
camelCase names, zero values left out where the json tag says omitempty, RFC 3339 times, IntOrString as a number
or a string, Quantity as its string, bytes as base64.
"""
from __future__ import annotations

import base64
import functools
import itertools
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from common.api import schema
from common.api.schema import Kind, Node
from common.errors import BadRequest

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
# "k8s" and an encoding byte; 0x00 is the only one defined: the rest is a runtime.Unknown (proto2).
MAGIC = b"k8s\x00"

_FieldType = descriptor_pb2.FieldDescriptorProto
_SCALAR_TYPES = {
    Kind.STRING: _FieldType.TYPE_STRING, Kind.BOOLEAN: _FieldType.TYPE_BOOL, Kind.NUMBER: _FieldType.TYPE_DOUBLE,
    Kind.BYTE: _FieldType.TYPE_BYTES,
}
_INTEGER_TYPES = {32: _FieldType.TYPE_INT32, 64: _FieldType.TYPE_INT64}
# Go types with a protobuf form of their own: (message name, [(field, number, type)]), from apimachinery's protos.
_SPECIAL_MESSAGES = {
    Kind.INT_OR_STRING: ("IntOrString", [("type", 1, _FieldType.TYPE_INT64), ("intVal", 2, _FieldType.TYPE_INT32),
                                         ("strVal", 3, _FieldType.TYPE_STRING)]),
    Kind.QUANTITY: ("Quantity", [("string", 1, _FieldType.TYPE_STRING)]),
    # metav1.Time and metav1.MicroTime share the layout of metav1.Timestamp.
    Kind.DATE_TIME: ("Timestamp", [("seconds", 1, _FieldType.TYPE_INT64), ("nanos", 2, _FieldType.TYPE_INT32)]),
    # Free-form JSON: metav1.FieldsV1 and runtime.RawExtension both hold it as raw bytes in field 1.
    Kind.ANY: ("RawJSON", [("raw", 1, _FieldType.TYPE_BYTES)]),
}
_ENVELOPE_MESSAGES = {
    "TypeMeta": [("apiVersion", 1, _FieldType.TYPE_STRING, ""), ("kind", 2, _FieldType.TYPE_STRING, "")],
    "Unknown": [("typeMeta", 1, _FieldType.TYPE_MESSAGE, ".kubelab.runtime.TypeMeta"),
                ("raw", 2, _FieldType.TYPE_BYTES, ""), ("contentEncoding", 3, _FieldType.TYPE_STRING, ""),
                ("contentType", 4, _FieldType.TYPE_STRING, "")],
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POOL = descriptor_pool.DescriptorPool()  # private: never mixed with generated protos of other libraries
_KIND_FILES = itertools.count(1)


class _Malformed(Exception):
    """A decode error, worded like the Go one it stands for; BadRequest adds which object it was."""


_OMITTED = object()  # a field the JSON form leaves out


# --- public ---------------------------------------------------------------------------------------------------

def decode_body(body: bytes, expected: tuple[str, str] | None = None) -> dict[str, Any]:
    """The object a protobuf request body carries, as the JSON wire format spells it.

    expected is the (apiVersion, kind) the endpoint takes: as upstream's decoder does, it fills in an envelope
    that leaves them out and names the wanted type in error messages.  Every failure is a BadRequest.
    """
    into = expected[1] if expected else ""
    try:
        api_version, kind, raw = _unwrap(body, expected)
    except _Malformed as err:
        must_be = f" (must be of type {into})" if into else ""
        raise BadRequest(f"the object provided is unrecognized{must_be}: {err} ({_summary(body)})") from None
    try:
        return _decode_object(api_version, kind, raw)
    except _Malformed as err:
        raise BadRequest(f'{kind} in version "{api_version.rsplit("/", 1)[-1]}" cannot be handled as a '
                         f'{into or kind}: {err}') from None


def encode_body(obj: dict[str, Any]) -> bytes:
    """A protobuf body for one object (the inverse of decode_body); obj must pass the schema, as stored ones do."""
    api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
    root = schema.schema_for(api_version, kind)
    if root is None:
        raise ValueError(f'no kind "{kind}" is registered for version "{api_version}"')
    message = _message_class(root)()
    _fill_struct(root, obj, message)
    envelope = _envelope_class("Unknown")(raw=message.SerializeToString())
    envelope.typeMeta.apiVersion, envelope.typeMeta.kind = api_version, kind
    return MAGIC + envelope.SerializeToString()


# --- the envelope (apimachinery's protobuf serializer) -----------------------------------------------------------

def _unwrap(body: bytes, expected: tuple[str, str] | None) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw object) from the envelope, the endpoint's kind filling in what it leaves out."""
    envelope = _envelope(body)
    api_version = _go_string(envelope.typeMeta.apiVersion) or (expected[0] if expected else "")
    kind = _go_string(envelope.typeMeta.kind) or (expected[1] if expected else "")
    if not kind:
        raise _Malformed("Object 'Kind' is missing in the runtime.Unknown envelope")
    if not api_version:
        raise _Malformed("Object 'apiVersion' is missing in the runtime.Unknown envelope")
    return api_version, kind, envelope.raw


def _envelope(body: bytes) -> Message:
    if not body:
        raise _Malformed("empty data")
    if not body.startswith(MAGIC):
        prefix = " ".join(str(byte) for byte in MAGIC)
        raise _Malformed(f"provided data does not appear to be a protobuf message, expected prefix [{prefix}]")
    if len(body) == len(MAGIC):
        raise _Malformed("empty body")
    envelope = _parse(_envelope_class("Unknown"), body[len(MAGIC):], "runtime.Unknown")
    # Only unencoded protobuf is defined inside the envelope; anything else would fail below less clearly.
    if envelope.contentEncoding:
        raise _Malformed(f"unsupported contentEncoding {_go_string(envelope.contentEncoding)!r} in runtime.Unknown")
    if envelope.contentType not in ("", MEDIA_TYPE):
        raise _Malformed(f"unsupported contentType {_go_string(envelope.contentType)!r} in runtime.Unknown")
    return envelope


def _summary(body: bytes, limit: int = 30) -> str:
    """Upstream's summarizeData: the start of a body that could not be decoded at all."""
    if not body:
        return "<empty>"
    head = body[:limit]
    text = head.decode(errors="replace") if body.startswith(b"{") else head.hex()
    return text + " ..." if len(body) > limit else text


def _parse(message_class: type[Message], data: bytes, what: str) -> Message:
    try:
        return message_class.FromString(data)
    except DecodeError:
        raise _Malformed(f"truncated or malformed protobuf data in {what}") from None


@functools.cache
def _envelope_class(name: str) -> type[Message]:
    _add_envelope_file()
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"kubelab.runtime.{name}"))


@functools.cache
def _add_envelope_file() -> None:
    file = descriptor_pb2.FileDescriptorProto(name="kubelab/runtime.proto", package="kubelab.runtime",
                                              syntax="proto2")
    for message_name, fields in _ENVELOPE_MESSAGES.items():
        message = file.message_type.add(name=message_name)
        for field_name, number, field_type, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=field_type, label=_FieldType.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name
    _POOL.Add(file)


# --- message classes derived from the schema -------------------------------------------------------------------

@functools.cache
def _own_fields(node: Node) -> tuple[tuple[str, Node], ...]:
    """A struct's protobuf fields of its own: those not promoted from an embedded struct, and numbered."""
    promoted = {name for inline in node.inline for name in inline.fields}
    return tuple((name, child) for name, child in node.fields.items() if name not in promoted and child.pb)


def _inline_name(inline: Node) -> str:
    """The protobuf field holding an embedded struct, named after its type as upstream mostly does."""
    name = inline.struct_name
    return name[0].lower() + name[1:]


@functools.cache
def _message_class(root: Node) -> type[Message]:
    """The message class of one top-level kind; each kind gets a proto file of its own in the private pool."""
    builder = _FileBuilder(f"kubelab.kind{next(_KIND_FILES)}")
    full_name = builder.message_for(root)
    _POOL.Add(builder.file)
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name.lstrip(".")))


class _FileBuilder:
    """Writes the messages a root struct reaches into one FileDescriptorProto."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.file = descriptor_pb2.FileDescriptorProto(name=f"{package.replace('.', '/')}.proto", package=package,
                                                       syntax="proto2")
        self.structs: dict[int, str] = {}  # id(struct fields) -> full message name; copies of a node share fields
        self.specials: dict[Kind, str] = {}
        self.taken: set[str] = set()

    def message_for(self, node: Node) -> str:
        key = id(node.fields)
        if key not in self.structs:
            message, full_name = self._new_message(node.struct_name)
            self.structs[key] = full_name  # before the fields: types may recurse
            for inline in node.inline:
                if inline.pb:
                    self._add_field(message, full_name, _inline_name(inline), inline)
            for name, child in _own_fields(node):
                self._add_field(message, full_name, name, child)
        return self.structs[key]

    def special_for(self, kind: Kind) -> str:
        if kind not in self.specials:
            name, fields = _SPECIAL_MESSAGES[kind]
            message, self.specials[kind] = self._new_message(name)
            for field_name, number, field_type in fields:
                message.field.add(name=field_name, number=number, type=field_type, label=_FieldType.LABEL_OPTIONAL)
        return self.specials[kind]

    def _new_message(self, wanted: str) -> tuple[descriptor_pb2.DescriptorProto, str]:
        name, suffix = wanted, 1
        while name in self.taken:
            suffix += 1
            name = f"{wanted}{suffix}"
        self.taken.add(name)
        return self.file.message_type.add(name=name), f".{self.package}.{name}"

    def _add_field(self, message: descriptor_pb2.DescriptorProto, message_name: str, name: str, node: Node) -> None:
        field = message.field.add(name=name, number=node.pb, label=_FieldType.LABEL_OPTIONAL)
        if node.kind == Kind.LIST:
            field.label = _FieldType.LABEL_REPEATED
            self._set_type(field, node.item)
        elif node.kind == Kind.MAP:
            field.label = _FieldType.LABEL_REPEATED
            field.type = _FieldType.TYPE_MESSAGE
            field.type_name = self._map_entry(message, message_name, name, node.value)
        else:
            self._set_type(field, node)

    def _map_entry(self, message: descriptor_pb2.DescriptorProto, message_name: str, name: str, value: Node) -> str:
        """A Go map is a repeated key/value entry message nested in its parent, as protobuf's map<> is."""
        entry = message.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=_FieldType.TYPE_STRING, label=_FieldType.LABEL_OPTIONAL)
        self._set_type(entry.field.add(name="value", number=2, label=_FieldType.LABEL_OPTIONAL), value)
        return f"{message_name}.{entry.name}"

    def _set_type(self, field: descriptor_pb2.FieldDescriptorProto, node: Node) -> None:
        if node.kind == Kind.STRUCT:
            field.type, field.type_name = _FieldType.TYPE_MESSAGE, self.message_for(node)
        elif node.kind in _SPECIAL_MESSAGES:
            field.type, field.type_name = _FieldType.TYPE_MESSAGE, self.special_for(node.kind)
        elif node.kind == Kind.INTEGER:
            field.type = _INTEGER_TYPES[node.bits]
        elif node.kind in _SCALAR_TYPES:
            field.type = _SCALAR_TYPES[node.kind]
        else:  # a list of lists or of maps: upstream's protos have none
            raise TypeError(f"no protobuf form for {node!r} in field {field.name}")


# --- decoding: message -> JSON dict ----------------------------------------------------------------------------

def _decode_object(api_version: str, kind: str, raw: bytes) -> dict[str, Any]:
    root = schema.schema_for(api_version, kind)
    if root is None:
        raise _Malformed(f'no kind "{kind}" is registered for version "{api_version}"')
    message = _parse(_message_class(root), raw, kind)
    return {"kind": kind, "apiVersion": api_version, **_struct_json(root, message)}


def _struct_json(node: Node, message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for inline in node.inline:
        if inline.pb:  # an absent embedded struct is Go's zero value: its non-omitempty fields still show
            out.update(_struct_json(inline, getattr(message, _inline_name(inline))))
    for name, child in _own_fields(node):
        value = _field_json(child, message, name)
        if value is not _OMITTED:
            out[name] = value
    return out


def _field_json(node: Node, message: Message, name: str) -> Any:
    if node.kind == Kind.LIST:
        items = getattr(message, name)
        return [_value_json(node.item, item) for item in items] if items else _OMITTED
    if node.kind == Kind.MAP:
        return _map_json(node, getattr(message, name))
    if node.kind in _SCALAR_TYPES or node.kind == Kind.INTEGER:
        return _scalar_field_json(node, message, name)
    if not message.HasField(name):
        return _OMITTED
    value = _value_json(node, getattr(message, name))
    return _OMITTED if value is None else value


def _map_json(node: Node, entries: Any) -> Any:
    if not entries:
        return _OMITTED
    keys = list(entries)
    # The library hands over a key that is not UTF-8 as bytes, and then cannot look it up.
    if not all(isinstance(key, str) for key in keys):
        raise _Malformed("a map key is not valid UTF-8")
    return {key: _value_json(node.value, entries[key]) for key in sorted(keys)}  # encoding/json sorts keys


def _scalar_field_json(node: Node, message: Message, name: str) -> Any:
    """Pointers are set or not; value fields are always on the wire, and omitempty drops their zero value."""
    value = getattr(message, name)
    if node.pointer:
        return _value_json(node, value) if message.HasField(name) else _OMITTED
    if node.omit_empty and not value:
        return _OMITTED
    return _value_json(node, value)


def _value_json(node: Node, value: Any) -> Any:
    return _VALUE_JSON.get(node.kind, _plain)(node, value)


def _plain(node: Node, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise _Malformed(f"json: unsupported value: {value}")
    return _go_string(value) if isinstance(value, bytes) else value


def _go_string(value: str | bytes) -> str:
    """A proto2 string may hold any bytes (the library then hands them over raw); Go's JSON encoder writes each
    byte that is not valid UTF-8 as U+FFFD."""
    if isinstance(value, str):
        return value
    return _ESCAPED_BYTE.sub("\ufffd", value.decode("utf-8", "surrogateescape"))


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _int_or_string_json(node: Node, value: Message) -> int | str:
    if value.type == 0:
        return value.intVal
    if value.type == 1:
        return _go_string(value.strVal)
    raise _Malformed("impossible IntOrString.Type")


def _time_json(node: Node, value: Message) -> str | None:
    """metav1.Time keeps seconds only, metav1.MicroTime whole microseconds; an empty message is the zero time."""
    if value.ByteSize() == 0:
        return None
    micro = node.go_type == "v1.MicroTime"
    micros = int(value.nanos / 1000) if micro else 0  # Go's Duration.Truncate rounds toward zero
    try:
        moment = _EPOCH + timedelta(seconds=value.seconds, microseconds=micros)
    except OverflowError:
        raise _Malformed(f"time {value.seconds}s since 1970 is out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _raw_json(node: Node, value: Message) -> Any:
    if not value.raw:
        return None
    try:
        return json.loads(value.raw)
    except (ValueError, RecursionError):
        raise _Malformed("raw JSON field (fieldsV1) is not valid JSON") from None


_VALUE_JSON: dict[Kind, Callable[[Node, Any], Any]] = {
    Kind.STRUCT: _struct_json,
    Kind.INT_OR_STRING: _int_or_string_json,
    Kind.QUANTITY: lambda node, value: _go_string(value.string),
    Kind.DATE_TIME: _time_json,
    Kind.ANY: _raw_json,
    Kind.BYTE: lambda node, value: base64.b64encode(value).decode(),
}


# --- encoding: JSON dict -> message ----------------------------------------------------------------------------

def _fill_struct(node: Node, data: dict[str, Any], message: Message) -> None:
    message.SetInParent()  # Go writes every value struct, even an empty one: `spec: {}` stays
    for inline in node.inline:
        if inline.pb:
            _fill_struct(inline, data, getattr(message, _inline_name(inline)))
    for name, child in _own_fields(node):
        value = data.get(name)
        if value is not None:
            _fill_field(child, message, name, value)


def _fill_field(node: Node, message: Message, name: str, value: Any) -> None:
    target = getattr(message, name)
    if node.kind == Kind.LIST:
        for item in value:
            if _is_message(node.item):
                _fill_message(node.item, target.add(), item)
            else:
                target.append(_scalar_wire(node.item, item))
    elif node.kind == Kind.MAP:
        for key, item in value.items():
            if _is_message(node.value):
                _fill_message(node.value, target[key], item)
            else:
                target[key] = _scalar_wire(node.value, item)
    elif _is_message(node):
        _fill_message(node, target, value)
    else:
        setattr(message, name, _scalar_wire(node, value))


def _is_message(node: Node) -> bool:
    return node.kind == Kind.STRUCT or node.kind in _SPECIAL_MESSAGES


def _fill_message(node: Node, message: Message, value: Any) -> None:
    if node.kind == Kind.STRUCT:
        _fill_struct(node, value, message)
    elif node.kind == Kind.INT_OR_STRING:
        if isinstance(value, str):
            message.type, message.strVal = 1, value
        else:
            message.type, message.intVal = 0, value
    elif node.kind == Kind.QUANTITY:
        message.string = str(value)
    elif node.kind == Kind.DATE_TIME:
        _fill_time(node, message, value)
    else:
        message.raw = json.dumps(value, separators=(",", ":")).encode()


def _fill_time(node: Node, message: Message, value: str) -> None:
    elapsed = datetime.fromisoformat(value) - _EPOCH
    message.seconds = elapsed.days * 86400 + elapsed.seconds
    if node.go_type == "v1.MicroTime" and elapsed.microseconds:  # metav1.Time drops the fraction, as upstream
        message.nanos = elapsed.microseconds * 1000


def _scalar_wire(node: Node, value: Any) -> Any:
    return base64.b64decode(value, validate=True) if node.kind == Kind.BYTE else value
