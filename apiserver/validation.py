"""Object validation: upstream-style field causes for every kind kubelab serves.

`validate(rt, obj, old)` mirrors k8s.io/kubernetes pkg/apis/*/validation: the same
field paths, reasons and messages, so clients print what a real cluster prints.
It never raises: a value of the wrong JSON type becomes a FieldValueTypeInvalid
cause, and anything unforeseen becomes an InternalError cause.  The format
checks (`is_dns1123_label`, ..., `parse_quantity`) are shared with the rest of
the apiserver.
"""
from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from common.api import kinds
from common.api.registry import ResourceType
from common.errors import field_cause
from common.memo import REMEMBERED_LENGTH, remember_short
from common.quantity import canonical_quantity, format_quantity, parse_quantity, parse_quantity_with_format

Cause = dict[str, str]
Obj = dict[str, Any]

# --------------------------------------------------------------------------------------------------
# Format checks (k8s.io/apimachinery/pkg/util/validation): each returns error messages, [] when valid.
# --------------------------------------------------------------------------------------------------

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_PERCENT_FMT = "[0-9]+%"
_HTTP_HEADER_FMT = "[-A-Za-z0-9]+"

_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                      "and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                          "'-' or '.', and must start and end with an alphanumeric character")
_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                      "start with an alphabetic character, and end with an alphanumeric character")
_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
                  "and must start and end with an alphanumeric character")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character")
_CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_NOT_A_STRING = "must be a string"

MAX_LABEL_LENGTH = 63
MAX_SUBDOMAIN_LENGTH = 253
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
MAX_SECRET_SIZE = 1024 * 1024


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Upstream's RegexError, double space before "or" included."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = "".join((" or " if i else "") + f"'{example}', " for i, example in enumerate(examples))
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _byte_len(value: str) -> int:
    """Go measures strings in UTF-8 bytes."""
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL = re.compile(_DNS1035_LABEL_FMT)
_LABEL_KEY = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_CONFIG_MAP_KEY = re.compile(_CONFIG_MAP_KEY_FMT)
_PERCENT = re.compile(_PERCENT_FMT)
_HTTP_HEADER = re.compile(_HTTP_HEADER_FMT)
_PORT_NAME_CHARS = re.compile("[-a-z0-9]+")
_LOWER_LETTER = re.compile("[a-z]")
_INTEGER = re.compile("[+-]?[0-9]+")
T = TypeVar("T")

# The format checks below answer with tuples (they are remembered); the public functions copy one into a list.

def is_dns1123_label(value: Any) -> list[str]:
    return list(_dns1123_label_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _dns1123_label_errors(value: str) -> tuple[str, ...]:
    errs = [max_len_error(MAX_LABEL_LENGTH)] if _byte_len(value) > MAX_LABEL_LENGTH else []
    if not _DNS1123_LABEL.fullmatch(value):
        if _DNS1123_SUBDOMAIN.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return tuple(errs)


def is_dns1123_subdomain(value: Any) -> list[str]:
    return list(_dns1123_subdomain_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _dns1123_subdomain_errors(value: str) -> tuple[str, ...]:
    errs = [max_len_error(MAX_SUBDOMAIN_LENGTH)] if _byte_len(value) > MAX_SUBDOMAIN_LENGTH else []
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return tuple(errs)


def is_dns1035_label(value: Any) -> list[str]:
    return list(_dns1035_label_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _dns1035_label_errors(value: str) -> tuple[str, ...]:
    errs = [max_len_error(MAX_LABEL_LENGTH)] if _byte_len(value) > MAX_LABEL_LENGTH else []
    if not _DNS1035_LABEL.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return tuple(errs)


def is_qualified_name(value: Any) -> list[str]:
    """A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters."""
    return list(_qualified_name_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _qualified_name_errors(value: str) -> tuple[str, ...]:
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) > 2:
        return ("a qualified name " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",)
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in _dns1123_subdomain_errors(prefix))
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > MAX_LABEL_LENGTH:
        errs.append("name part " + max_len_error(MAX_LABEL_LENGTH))
    if not _LABEL_KEY.fullmatch(name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return tuple(errs)


def is_valid_label_value(value: Any) -> list[str]:
    return list(_label_value_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _label_value_errors(value: str) -> tuple[str, ...]:
    errs = [max_len_error(MAX_LABEL_LENGTH)] if _byte_len(value) > MAX_LABEL_LENGTH else []
    if not _LABEL_VALUE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return tuple(errs)


def is_valid_port_num(port: int) -> list[str]:
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def inclusive_range_error(low: int, high: int) -> str:
    return f"must be between {low} and {high}, inclusive"


def is_valid_port_name(port: Any) -> list[str]:
    """An IANA_SVC_NAME: at most 15 of [-a-z0-9], with a letter, no leading/trailing or double hyphen."""
    return list(_port_name_errors(port)) if isinstance(port, str) else [_NOT_A_STRING]


@remember_short
def _port_name_errors(port: str) -> tuple[str, ...]:
    errs = [max_len_error(15)] if len(port) > 15 else []
    if not _PORT_NAME_CHARS.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _LOWER_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return tuple(errs)


def is_valid_percent(value: Any) -> list[str]:
    if isinstance(value, str) and _PERCENT.fullmatch(value):
        return []
    return [regex_error("a valid percent string must be a numeric string followed by an ending '%'",
                        _PERCENT_FMT, "1%", "93%")]


def is_env_var_name(value: Any) -> list[str]:
    """Upstream's relaxed rule (RelaxedEnvironmentVariableValidation, on by default since 1.32)."""
    return list(_env_var_name_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _env_var_name_errors(value: str) -> tuple[str, ...]:
    if not value:
        return ("environment variable name must be non-empty",)
    if any(not 32 <= ord(ch) <= 126 or ch == "=" for ch in value):
        return ("a valid environment variable name must consist only of printable ASCII characters other than '='",)
    return ()


def _chdir_prefix_errors(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    return ["must not start with '..'"] if value.startswith("..") else []


def is_config_map_key(value: Any) -> list[str]:
    return list(_config_map_key_errors(value)) if isinstance(value, str) else [_NOT_A_STRING]


@remember_short
def _config_map_key_errors(value: str) -> tuple[str, ...]:
    errs = [max_len_error(MAX_SUBDOMAIN_LENGTH)] if _byte_len(value) > MAX_SUBDOMAIN_LENGTH else []
    if not _CONFIG_MAP_KEY.fullmatch(value):
        errs.append(regex_error(_CONFIG_MAP_KEY_MSG, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return tuple(errs + _chdir_prefix_errors(value))


def is_http_header_name(value: Any) -> list[str]:
    if isinstance(value, str) and _HTTP_HEADER.fullmatch(value):
        return []
    return [regex_error("a valid HTTP header must consist of alphanumeric characters or '-'",
                        _HTTP_HEADER_FMT, "X-Header-Name")]


def is_valid_path_segment_name(value: Any) -> list[str]:
    """Names that become one URL path segment (apimachinery api/validation/path)."""
    if not isinstance(value, str):
        return [_NOT_A_STRING]
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in value]


def _mask_trailing_dash(name: str) -> str:
    """A generateName may end in '-': upstream swaps its last two characters for 'a' before checking."""
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


NameCheck = Callable[[str, bool], list[str]]

# --------------------------------------------------------------------------------------------------
# IP addresses and CIDRs, parsed "sloppily" like k8s.io/utils/net (IPv4 octets may have leading zeros)
# --------------------------------------------------------------------------------------------------

IP_FORMAT_ERROR = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR_FORMAT_ERROR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(value: Any) -> IPAddress | None:
    if not isinstance(value, str) or not value or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        pass
    octets = value.split(".")
    if len(octets) == 4 and all(o.isascii() and o.isdigit() and int(o) <= 255 for o in octets):
        return ipaddress.IPv4Address(".".join(str(int(o)) for o in octets))
    return None


def parse_cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    address, bits = value.split("/")
    ip = parse_ip(address)
    if ip is None or not (bits.isascii() and bits.isdigit()) or int(bits) > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)


def _is_link_local_multicast(ip: IPAddress) -> bool:
    if ip.version == 4:
        return ip in ipaddress.IPv4Network("224.0.0.0/24")
    return ip.packed[0] == 0xFF and ip.packed[1] & 0x0F == 0x02


# --------------------------------------------------------------------------------------------------
# Cron schedules, as robfig/cron's ParseStandard (five fields or a @descriptor)
# --------------------------------------------------------------------------------------------------

_MONTHS = {name: i + 1 for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_WEEKDAYS = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_CRON_FIELDS = ((0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 6, _WEEKDAYS))
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")


def cron_error(schedule: str) -> str | None:
    """The error robfig/cron gives for a schedule, or None when it parses."""
    spec = schedule.strip()
    if spec.startswith(("TZ=", "CRON_TZ=")):
        zone, _, spec = spec.partition(" ")
        spec = spec.strip()
        if _known_zone(zone.split("=", 1)[1]) is False:
            return f"provided bad location {zone.split('=', 1)[1]}: unknown time zone {zone.split('=', 1)[1]}"
    if not spec:
        return "empty spec string"
    if spec.startswith("@"):
        return _cron_descriptor_error(spec)
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, bounds in zip(fields, _CRON_FIELDS):
        for expr in (part for part in text.split(",") if part):
            if (error := _cron_range_error(expr, *bounds)) is not None:
                return error
    return None


def _cron_descriptor_error(spec: str) -> str | None:
    if spec in _DESCRIPTORS:
        return None
    if spec.startswith("@every "):
        duration = spec[len("@every "):]
        if _GO_DURATION.fullmatch(duration):
            return None
        return f'failed to parse duration {spec}: time: invalid duration "{duration}"'
    return f"unrecognized descriptor: {spec}"


def _cron_range_error(expr: str, low: int, high: int, names: dict[str, int] | None) -> str | None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if len(range_and_step) > 2:
        return f"too many slashes: {expr}"
    if low_high[0] in ("*", "?"):
        start, end = low, high
    else:
        if len(low_high) > 2:
            return f"too many hyphens: {expr}"
        bounds = [_cron_number(part, names) for part in low_high]
        if error := next((b for b in bounds if isinstance(b, str)), None):
            return error
        start, end = int(bounds[0]), int(bounds[-1])
    step: int | str = 1
    if len(range_and_step) == 2:
        step = _cron_number(range_and_step[1], None)
        if isinstance(step, str):
            return step
        if len(low_high) == 1:
            end = high
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    return f"step of range should be a positive number: {expr}" if step == 0 else None


def _cron_number(text: str, names: dict[str, int] | None) -> int | str:
    """An int (or month/day name), else robfig's error message."""
    if names and text.lower() in names:
        return names[text.lower()]
    if not _INTEGER.fullmatch(text):
        return f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
    number = int(text)
    return f"negative number ({number}) not allowed: {text}" if number < 0 else number


def _known_zone(name: str) -> bool | None:
    """True/False when this host has a time zone database to ask, None when it cannot tell."""
    if name in ("UTC", "Local"):
        return True
    try:
        zoneinfo.ZoneInfo(name)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False if zoneinfo.available_timezones() else None
    except Exception:  # a malformed key can surface as other OS errors
        return False


# --------------------------------------------------------------------------------------------------
# Causes: how upstream's field.Error renders (ErrorBody), and a collector with type-safe getters
# --------------------------------------------------------------------------------------------------

class Raw(str):
    """A value upstream prints through its String() method or as a Go literal: rendered verbatim."""


def render(value: Any) -> str:
    """A bad value as field.Error prints it: strings quoted, numbers bare, maps and lists Go-style."""
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        pairs = ", ".join(f"{_quote(str(k))}:{_quote(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
        return "map[string]string{" + pairs + "}"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(_quote(v) for v in value) + "}"
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # keys JSON cannot hold: still say something useful
        return repr(value)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _labels_value(labels: Any) -> Any:
    """A label map as Go prints it, nil included."""
    return Raw("map[string]string(nil)") if labels is None else labels


def _p(base: str, name: str) -> str:
    """A child field path: `spec` + `template` -> `spec.template` (nest calls for grandchildren)."""
    return f"{base}.{name}" if base else name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if isinstance(value, int) or value.is_integer() else "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), type(value).__name__)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class Causes:
    """Collects upstream-style causes; the getters report a wrong JSON type instead of raising."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def _add(self, reason: str, path: str, body: str, detail: str = "") -> None:
        self.causes.append(field_cause(path, f"{body}: {detail}" if detail else body, reason))

    def required(self, path: str, detail: str = "") -> None:
        self._add("FieldValueRequired", path, "Required value", detail)

    def invalid(self, path: str, value: Any, detail: str = "") -> None:
        self._add("FieldValueInvalid", path, f"Invalid value: {render(value)}", detail)

    def not_supported(self, path: str, value: Any, supported: Sequence[str]) -> None:
        detail = "supported values: " + ", ".join(_quote(s) for s in supported) if supported else ""
        self._add("FieldValueNotSupported", path, f"Unsupported value: {render(value)}", detail)

    def duplicate(self, path: str, value: Any, detail: str = "") -> None:
        self._add("FieldValueDuplicate", path, f"Duplicate value: {render(value)}", detail)

    def not_found(self, path: str, value: Any, detail: str = "") -> None:
        self._add("FieldValueNotFound", path, f"Not found: {render(value)}", detail)

    def forbidden(self, path: str, detail: str) -> None:
        self._add("FieldValueForbidden", path, "Forbidden", detail)

    def too_long(self, path: str, limit: int) -> None:
        self._add("FieldValueTooLong", path, "Too long", f"must have at most {limit} bytes")

    def too_many(self, path: str, actual: int, limit: int) -> None:
        self._add("FieldValueTooMany", path, f"Too many: {actual}", f"must have at most {limit} items")

    def type_invalid(self, path: str, value: Any, expected: str) -> None:
        actual = _json_type(value)
        self._add("FieldValueTypeInvalid", path, f'Invalid value: "{actual}"',
                  f'{path} in body must be of type {expected}: "{actual}"')

    def nonnegative(self, path: str, value: int | None) -> None:
        if value is not None and value < 0:
            self.invalid(path, value, "must be greater than or equal to 0")

    def nonnegative_field(self, obj: Any, key: str, path: str) -> None:
        """nonnegative(path.key, integer(obj, key, path)), the path built only for a cause."""
        value = self.integer(obj, key, path)
        if value is not None and value < 0:
            self.invalid(_p(path, key), value, "must be greater than or equal to 0")

    def nonnegative_fields(self, obj: Any, keys: Sequence[str], path: str) -> None:
        """nonnegative_field for each key, in order; unset fields and plain non-negative ints pass at once."""
        values = obj if isinstance(obj, dict) else {}
        for key in keys:
            value = values.get(key)
            if value is not None and not (type(value) is int and value >= 0):
                self.nonnegative_field(obj, key, path)

    # -- getters: absent or null gives the zero value; a wrong type gives a cause and the zero value --

    def _wrong_type(self, path: str, key: str, value: Any, expected: str) -> None:
        self.type_invalid(_p(path, key), value, expected)

    def text(self, obj: Any, key: str, path: str) -> str:
        value = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(value, str):
            return value or ""  # an empty str subclass (Raw) reads as a plain ""
        if value is not None:
            self._wrong_type(path, key, value, "string")
        return ""

    def integer(self, obj: Any, key: str, path: str) -> int | None:
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None or type(value) is int:  # the common case first: bools are no integers here
            return value
        number = _as_int(value)
        if number is None:
            self._wrong_type(path, key, value, "integer")
        return number

    def boolean(self, obj: Any, key: str, path: str) -> bool | None:
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None or isinstance(value, bool):
            return value
        self._wrong_type(path, key, value, "boolean")
        return None

    def _object(self, obj: Any, key: str, path: str) -> dict[Any, Any] | None:
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None or isinstance(value, dict):
            return value
        self._wrong_type(path, key, value, "object")
        return None

    def mapping(self, obj: Any, key: str, path: str) -> dict[str, Any]:
        found = self._object(obj, key, path)
        if not found:
            return {}
        for name in found:
            if not isinstance(name, str):
                return self._string_keys(found, path, key)
        return found  # JSON's keys are always strings

    def _string_keys(self, found: dict[Any, Any], path: str, key: str) -> dict[str, Any]:
        """JSON objects have string keys; anything else is reported and dropped."""
        for bad_key in [k for k in found if not isinstance(k, str)]:
            self.type_invalid(f"{_p(path, key)}[{bad_key}]", bad_key, "string")
        return {k: v for k, v in found.items() if isinstance(k, str)}

    def sequence(self, obj: Any, key: str, path: str) -> list[Any]:
        value = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(value, list):
            return value
        if value is not None:
            self._wrong_type(path, key, value, "array")
        return []

    def objects(self, obj: Any, key: str, path: str) -> Iterable[tuple[int, str, dict[str, Any]]]:
        """(index, path, item) for each object in a list field, lazily: another item becomes a cause when the
        caller's loop gets to it, after the causes of the items before it (upstream's order)."""
        if not isinstance(obj, dict) or obj.get(key) is None:
            return ()  # unset: the usual case for most lists
        return self._each_object(obj, key, path)

    def _each_object(self, obj: Obj, key: str, path: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        base = _p(path, key)
        for i, item in enumerate(self.sequence(obj, key, path)):
            if isinstance(item, dict):
                yield i, f"{base}[{i}]", item
            else:
                self.type_invalid(f"{base}[{i}]", item, "object")

    def strings(self, obj: Any, key: str, path: str) -> list[str]:
        items = self.sequence(obj, key, path)
        for item in items:
            if not isinstance(item, str):
                return self._only_strings(items, path, key)
        return items

    def _only_strings(self, items: list[Any], path: str, key: str) -> list[str]:
        base, found = _p(path, key), []
        for i, item in enumerate(items):
            if isinstance(item, str):
                found.append(item)
            else:
                self.type_invalid(f"{base}[{i}]", item, "string")
        return found

    def string_map(self, obj: Any, key: str, path: str) -> dict[str, str] | None:
        """A map of strings (labels, data); None when absent."""
        raw = self._object(obj, key, path)
        if raw is None:
            return None
        for name, value in raw.items():
            if not isinstance(name, str) or not isinstance(value, str):
                return self._only_string_entries(raw, path, key)
        return raw

    def _only_string_entries(self, raw: dict[Any, Any], path: str, key: str) -> dict[str, str]:
        raw, found = self._string_keys(raw, path, key), {}
        for name, value in raw.items():
            if isinstance(value, str):
                found[name] = value
            else:
                self.type_invalid(f"{_p(path, key)}[{name}]", value, "string")
        return found

    def int_or_string(self, obj: Any, key: str, path: str) -> int | str | None:
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None or isinstance(value, str):
            return value
        number = _as_int(value)
        if number is None:
            self.type_invalid(_p(path, key), value, "integer or string")
        return number


# --------------------------------------------------------------------------------------------------
# Metadata (apimachinery api/validation/objectmeta.go + core's finalizer rule)
# --------------------------------------------------------------------------------------------------

_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
_BANNED_OWNERS = {("", "v1", "Event")}


def _object_meta(e: Causes, obj: Obj, name_check: NameCheck, namespaced: bool) -> None:
    meta, path = e.mapping(obj, "metadata", ""), "metadata"
    generate_name = e.text(meta, "generateName", path)
    if generate_name:
        for msg in name_check(generate_name, True):
            e.invalid(_p(path, "generateName"), generate_name, msg)
    name = e.text(meta, "name", path)
    if not name:
        e.required(_p(path, "name"), "name or generateName is required")
    for msg in name_check(name, False) if name else ():
        e.invalid(_p(path, "name"), name, msg)
    _namespace_field(e, e.text(meta, "namespace", path), namespaced)
    e.nonnegative_field(meta, "generation", path)
    _label_map(e, meta, "labels", path)
    _annotation_map(e, meta, "annotations", path)
    _owner_references(e, meta, path)
    if finalizers := e.strings(meta, "finalizers", path):
        _finalizers(e, finalizers, _p(path, "finalizers"))


def _namespace_field(e: Causes, namespace: str, namespaced: bool) -> None:
    path = "metadata.namespace"
    if namespaced and not namespace:
        e.required(path)
    elif namespaced:
        for msg in _dns1123_label_errors(namespace):
            e.invalid(path, namespace, msg)
    elif namespace:
        e.forbidden(path, "not allowed on this type")


def _label_map(e: Causes, obj: Obj, key: str, path: str) -> None:
    """_labels for the map of strings obj[key]; its path (path.key) is built only when it has entries."""
    labels = e.string_map(obj, key, path)
    if labels:
        _labels(e, labels, _p(path, key))


def _labels(e: Causes, labels: dict[str, str] | None, path: str) -> None:
    """Label errors name the map, not the key (as upstream's ValidateLabels)."""
    for key, value in (labels or {}).items():
        for msg in _qualified_name_errors(key):
            e.invalid(path, key, msg)
        for msg in _label_value_errors(value):
            e.invalid(path, value, msg)


def _annotation_map(e: Causes, obj: Obj, key: str, path: str) -> None:
    """_annotations for the map of strings obj[key]; its path (path.key) is built only when it has entries."""
    annotations = e.string_map(obj, key, path)
    if annotations:
        _annotations(e, annotations, _p(path, key))


def _annotations(e: Causes, annotations: dict[str, str] | None, path: str) -> None:
    total = 0
    for key, value in (annotations or {}).items():
        for msg in _qualified_name_errors(key.lower()):
            e.invalid(path, key, msg)
        total += _byte_len(key) + _byte_len(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        e.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT)


def _owner_references(e: Causes, meta: Obj, path: str) -> None:
    if meta.get("ownerReferences") is None:
        return  # the usual case
    refs_path, controllers = _p(path, "ownerReferences"), []
    for _, _, ref in e.objects(meta, "ownerReferences", path):
        api_version, kind = e.text(ref, "apiVersion", refs_path), e.text(ref, "kind", refs_path)
        group, version = _split_api_version(api_version)
        if not version:
            e.invalid(_p(refs_path, "apiVersion"), api_version, "version must not be empty")
        for key in ("kind", "name", "uid"):
            if not e.text(ref, key, refs_path):
                e.invalid(_p(refs_path, key), e.text(ref, key, refs_path), "must not be empty")
        if (group, version, kind) in _BANNED_OWNERS:
            e.invalid(refs_path, ref, f"{group}/{version}, Kind={kind} is disallowed from being an owner")
        if e.boolean(ref, "controller", refs_path):
            controllers.append(f"{kind}/{e.text(ref, 'name', refs_path)}")
    if len(controllers) > 1:
        e.invalid(refs_path, meta.get("ownerReferences"), "Only one reference can have Controller set to true. "
                  f'Found "true" in references for {controllers[0]} and {controllers[1]}')


def _split_api_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion: "v1" -> ("", "v1"), "apps/v1" -> ("apps", "v1"), nonsense -> ("", "")."""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    return (parts[0], parts[1]) if len(parts) == 2 else ("", "")


def _finalizers(e: Causes, finalizers: list[str], path: str) -> None:
    for name in finalizers:
        for msg in _qualified_name_errors(name):
            e.invalid(path, name, msg)
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        e.invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
    for i, name in enumerate(finalizers):
        _kube_finalizer_name(e, name, f"{path}[{i}]")


def _kube_finalizer_name(e: Causes, name: str, path: str) -> None:
    if "/" not in name and name not in _STANDARD_FINALIZERS:
        e.invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")


def _object_meta_update(e: Causes, new: Obj, old: Obj) -> None:
    meta, old_meta = e.mapping(new, "metadata", ""), _mapping(old, "metadata")
    if old_meta.get("deletionTimestamp"):
        added = sorted(set(e.strings(meta, "finalizers", "metadata")) - set(_strings(old_meta.get("finalizers"))))
        if added:
            e.forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, "
                        "found new finalizers []string{" + ", ".join(_quote(f) for f in added) + "}")
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        value, before = meta.get(key), old_meta.get(key)
        if key in ("uid", "creationTimestamp") and not value:
            continue  # the apiserver carries these over from the stored object
        if (value or "") != (before or ""):
            e.invalid(f"metadata.{key}", value or "", "field is immutable")


def _mapping(obj: Any, key: str) -> dict[str, Any]:
    """A nested object for reading alone (old objects are trusted; their causes are not reported)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


# --------------------------------------------------------------------------------------------------
# Label selectors (metav1.LabelSelector)
# --------------------------------------------------------------------------------------------------

class Selector:
    """A parsed LabelSelector; `nothing` is what a missing selector selects."""

    def __init__(self, match_labels: dict[str, str], expressions: list[tuple[str, str, list[str]]],
                 nothing: bool = False) -> None:
        self.match_labels, self.expressions, self.nothing = match_labels, expressions, nothing

    def empty(self) -> bool:
        return not self.nothing and not self.match_labels and not self.expressions

    def matches(self, labels: dict[str, str]) -> bool:
        if self.nothing:
            return False
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        return all(_requirement_matches(labels, *expr) for expr in self.expressions)


def _requirement_matches(labels: dict[str, str], key: str, operator: str, values: list[str]) -> bool:
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    return (key in labels) == (operator == "Exists")


def parse_selector(selector: Any) -> Selector | None:
    """LabelSelectorAsSelector: a Selector, or None when the selector is malformed."""
    if selector is None:
        return Selector({}, [], nothing=True)
    if not isinstance(selector, dict):
        return None
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, dict) or not isinstance(expressions, list):
        return None
    if any(not isinstance(v, str) or is_qualified_name(k) or is_valid_label_value(v) for k, v in match_labels.items()):
        return None
    parsed = [_parse_requirement(expr) for expr in expressions]
    if any(req is None for req in parsed):
        return None
    return Selector(dict(match_labels), [req for req in parsed if req is not None])


def _parse_requirement(expr: Any) -> tuple[str, str, list[str]] | None:
    if not isinstance(expr, dict):
        return None
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or is_qualified_name(key) or not isinstance(values, list):
        return None
    if any(not isinstance(v, str) or is_valid_label_value(v) for v in values):
        return None
    if operator in ("In", "NotIn") and values or operator in ("Exists", "DoesNotExist") and not values:
        return key, operator, values
    return None


def _label_selector(e: Causes, selector: Any, path: str) -> None:
    """ValidateLabelSelector (a missing selector is not an error here)."""
    if selector is None:
        return
    if not isinstance(selector, dict):
        e.type_invalid(path, selector, "object")
        return
    _labels(e, e.string_map(selector, "matchLabels", path), _p(path, "matchLabels"))
    for _, item_path, expr in e.objects(selector, "matchExpressions", path):
        operator, values = e.text(expr, "operator", item_path), e.strings(expr, "values", item_path)
        if operator in ("In", "NotIn") and not values:
            e.required(_p(item_path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
        elif operator in ("Exists", "DoesNotExist") and values:
            e.forbidden(_p(item_path, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            e.invalid(_p(item_path, "operator"), operator, "not a valid selector operator")
        _label_name(e, e.text(expr, "key", item_path), _p(item_path, "key"))
        for j, value in enumerate(values):
            for msg in _label_value_errors(value):
                e.invalid(f"{item_path}.values[{j}]", value, msg)


def _label_name(e: Causes, key: str, path: str) -> None:
    for msg in _qualified_name_errors(key):
        e.invalid(path, key, msg)


# --------------------------------------------------------------------------------------------------
# Pod spec (core/validation ValidatePodSpec and friends)
# --------------------------------------------------------------------------------------------------

_PROTOCOLS = ("SCTP", "TCP", "UDP")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate",
                    "Socket")
# Upstream's order of volume sources; two Forbidden paths keep upstream's spelling.
_VOLUME_SOURCES = ("emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
                   "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte",
                   "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
                   "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO", "csi",
                   "ephemeral", "image")
_VOLUME_FORBIDDEN_PATH = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
_FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_STANDARD_RESOURCES = (*_STANDARD_CONTAINER_RESOURCES, "requests.cpu", "requests.memory", "requests.ephemeral-storage",
                       "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "services",
                       "replicationcontrollers", "resourcequotas", "secrets", "configmaps", "persistentvolumeclaims",
                       "storage", "requests.storage", "services.nodeports", "services.loadbalancers")
_ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
                    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
_CONVERTIBLE_FIELD_PATHS = (*_ENV_FIELD_PATHS, "metadata.annotations", "metadata.labels", "spec.restartPolicy",
                            "spec.schedulerName", "status.phase")
_RESOURCE_FIELD_PATHS = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
                         "requests.ephemeral-storage", "requests.memory")
_MAX_UID = 4294967295


class PodSpecContext:
    """What container checks need to know about the pod around them."""

    def __init__(self, volumes: dict[str, dict[str, Any]], grace: int | None, is_pod: bool) -> None:
        self.volumes, self.grace, self.is_pod = volumes, grace, is_pod


def _pod_spec(e: Causes, spec: Obj, path: str, *, is_pod: bool) -> None:
    if spec.get("terminationGracePeriodSeconds") is None:
        e.required(_p(path, "terminationGracePeriodSeconds"))
    ctx = PodSpecContext(_volumes(e, spec, path), e.integer(spec, "terminationGracePeriodSeconds", path), is_pod)
    containers = list(e.objects(spec, "containers", path))
    containers_path = _p(path, "containers")
    if not spec.get("containers"):
        e.required(containers_path)
    _containers(e, containers, ctx, containers_path)
    init_containers = list(e.objects(spec, "initContainers", path))
    if init_containers:
        _init_containers(e, init_containers, containers, ctx, _p(path, "initContainers"))
    if e.boolean(spec, "hostNetwork", path):
        _host_network_ports(e, containers, is_pod, containers_path)
    _enum_field(e, spec, "restartPolicy", path, _RESTART_POLICIES)
    _enum_field(e, spec, "dnsPolicy", path, _DNS_POLICIES)
    _label_map(e, spec, "nodeSelector", path)
    if context := e.mapping(spec, "securityContext", path):  # an empty one (the default) has nothing to check
        _pod_security_context(e, context, _p(path, "securityContext"))
    if affinity := e.mapping(spec, "affinity", path):
        _affinity(e, affinity, _p(path, "affinity"))
    _dns_config(e, spec, path)
    _pod_names_and_numbers(e, spec, path)
    _tolerations(e, spec, path)
    _host_aliases(e, spec, path)


def _enum_required(e: Causes, value: str, path: str, supported: Sequence[str]) -> None:
    if not value:
        e.required(path)
    elif value not in supported:
        e.not_supported(path, value, supported)


def _enum_field(e: Causes, obj: Obj, key: str, path: str, supported: Sequence[str]) -> None:
    """_enum_required for the string obj[key], its path (path.key) built only for a cause."""
    value = e.text(obj, key, path)
    if not value or value not in supported:
        _enum_required(e, value, _p(path, key), supported)


_POD_NAME_FIELDS = (("serviceAccountName", is_dns1123_subdomain), ("nodeName", is_dns1123_subdomain),
                    ("hostname", is_dns1123_label), ("subdomain", is_dns1123_label),
                    ("priorityClassName", is_dns1123_subdomain))


def _pod_names_and_numbers(e: Causes, spec: Obj, path: str) -> None:
    for key, check in _POD_NAME_FIELDS:
        if spec.get(key) is None:  # most are unset
            continue
        value = e.text(spec, key, path)
        for msg in check(value) if value else ():
            e.invalid(_p(path, key), value, msg)
    deadline = e.integer(spec, "activeDeadlineSeconds", path)
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        e.invalid(_p(path, "activeDeadlineSeconds"), deadline, inclusive_range_error(1, 2**31 - 1))
    preemption = spec.get("preemptionPolicy")
    if preemption is not None:
        _enum_required(e, e.text(spec, "preemptionPolicy", path), _p(path, "preemptionPolicy"),
                       ("PreemptLowerPriority", "Never"))


def _containers(e: Causes, containers: list[tuple[int, str, Obj]], ctx: PodSpecContext, path: str) -> None:
    names: set[str] = set()
    for _, item_path, container in containers:
        _container_common(e, container, item_path, ctx)
        name = e.text(container, "name", item_path)
        if name in names:
            e.duplicate(_p(item_path, "name"), name)
        names.add(name)
        _container_hooks_and_probes(e, container, item_path, ctx)
        if container.get("restartPolicy") is not None:
            e.forbidden(_p(item_path, "restartPolicy"), "may not be set for non-init containers")
    _host_port_conflicts(e, containers, path)


def _init_containers(e: Causes, items: list[tuple[int, str, Obj]], containers: list[tuple[int, str, Obj]],
                     ctx: PodSpecContext, path: str) -> None:
    names = {_text(c.get("name")) for _, _, c in containers}
    for i, item_path, container in items:
        _container_common(e, container, item_path, ctx)
        restart = e.text(container, "restartPolicy", item_path)
        if container.get("restartPolicy") is not None and restart != "Always":
            e.not_supported(_p(item_path, "restartPolicy"), restart, ("Always",))
        name = e.text(container, "name", item_path)
        if name in names:
            e.duplicate(_p(item_path, "name"), name)
        elif name:
            names.add(name)
        _host_port_conflicts(e, [(i, item_path, container)], path)
        if restart == "Always":
            _container_hooks_and_probes(e, container, item_path, ctx)
            continue
        for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
            if container.get(key) is not None:
                e.forbidden(_p(item_path, key), "may not be set for init containers without restartPolicy=Always")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _container_common(e: Causes, container: Obj, path: str, ctx: PodSpecContext) -> None:
    name = e.text(container, "name", path)
    if not name:
        e.required(_p(path, "name"))
    for msg in _dns1123_label_errors(name) if name else ():
        e.invalid(_p(path, "name"), name, msg)
    image = e.text(container, "image", path)
    if not image:
        e.required(_p(path, "image"))
    _enum_field(e, container, "terminationMessagePolicy", path, _TERMINATION_MESSAGE_POLICIES)
    _container_ports(e, container, path)
    _env(e, container, path)
    _env_from(e, container, path)
    _volume_mounts(e, container, path, ctx.volumes)
    _enum_field(e, container, "imagePullPolicy", path, _PULL_POLICIES)
    if resources := e.mapping(container, "resources", path):
        _resources(e, resources, _p(path, "resources"))
    _container_security_context(e, container, path)
    if ctx.is_pod and image != image.strip():
        e.invalid(_p(path, "image"), image, "must not have leading or trailing whitespace")


def _container_hooks_and_probes(e: Causes, container: Obj, path: str, ctx: PodSpecContext) -> None:
    lifecycle = e.mapping(container, "lifecycle", path)
    for hook in ("postStart", "preStop"):
        handler = lifecycle.get(hook)
        if handler is not None:
            _handler(e, handler, _p(_p(path, "lifecycle"), hook), ctx.grace, _LIFECYCLE_HANDLERS)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(kind)
        if probe is not None:
            _probe(e, probe, _p(path, kind), ctx.grace, kind)


def _container_ports(e: Causes, container: Obj, path: str) -> None:
    names: set[str] = set()
    for _, item_path, port in e.objects(container, "ports", path):
        name = e.text(port, "name", item_path)
        errors = _port_name_errors(name) if name else []
        for msg in errors:
            e.invalid(_p(item_path, "name"), name, msg)
        if name and not errors and name in names:
            e.duplicate(_p(item_path, "name"), name)
        names.add(name)
        container_port = e.integer(port, "containerPort", item_path)
        if not container_port:
            e.required(_p(item_path, "containerPort"))
        for msg in is_valid_port_num(container_port) if container_port else ():
            e.invalid(_p(item_path, "containerPort"), container_port, msg)
        host_port = e.integer(port, "hostPort", item_path)
        for msg in is_valid_port_num(host_port) if host_port else ():
            e.invalid(_p(item_path, "hostPort"), host_port, msg)
        _protocol(e, port, item_path)


def _protocol(e: Causes, obj: Obj, path: str) -> None:
    _enum_field(e, obj, "protocol", path, _PROTOCOLS)


def _host_port_conflicts(e: Causes, containers: list[tuple[int, str, Obj]], path: str) -> None:
    seen: set[str] = set()
    for i, _, container in containers:
        for j, port in enumerate(_list(container.get("ports"))):
            host_port = _as_int(port.get("hostPort")) if isinstance(port, dict) else None
            if not host_port:
                continue
            key = f"{_text(port.get('protocol'))}/{_text(port.get('hostIP'))}/{host_port}"
            if key in seen:
                e.duplicate(f"{path}[{i}].ports[{j}].hostPort", key)
            seen.add(key)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _host_network_ports(e: Causes, containers: list[tuple[int, str, Obj]], is_pod: bool, path: str) -> None:
    for _, item_path, container in containers:
        for _, port_path, port in e.objects(container, "ports", item_path):
            host_port, container_port = _as_int(port.get("hostPort")) or 0, _as_int(port.get("containerPort")) or 0
            if (is_pod or host_port != 0) and host_port != container_port:
                e.invalid(_p(port_path, "hostPort"), host_port, "must match `containerPort` when `hostNetwork` is true")


def _env(e: Causes, container: Obj, path: str) -> None:
    for _, item_path, var in e.objects(container, "env", path):
        name = e.text(var, "name", item_path)
        if not name:
            e.required(_p(item_path, "name"))
        for msg in _env_var_name_errors(name) if name else ():
            e.invalid(_p(item_path, "name"), name, msg)
        _env_value_from(e, var, item_path)


def _env_value_from(e: Causes, var: Obj, path: str) -> None:
    source = var.get("valueFrom")
    if source is None:
        return
    source_path = _p(path, "valueFrom")
    source = e.mapping(var, "valueFrom", path)
    present = [key for key in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
               if source.get(key) is not None]
    for key in present:
        ref, ref_path = e.mapping(source, key, source_path), _p(source_path, key)
        if key == "fieldRef":
            _object_field_selector(e, ref, ref_path, _ENV_FIELD_PATHS)
        elif key == "resourceFieldRef":
            _resource_field_selector(e, ref, ref_path, needs_container=False)
        else:
            _key_selector(e, ref, ref_path)
    if not present:
        e.invalid(source_path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                  "`secretKeyRef`")
    elif e.text(var, "value", path):
        e.invalid(source_path, "", "may not be specified when `value` is not empty")
    elif len(present) > 1:
        e.invalid(source_path, "", "may not have more than one field specified at a time")


_SUBSCRIPTED_FIELD_PATH = re.compile(r"(metadata\.(?:annotations|labels))\['(.*)'\]")


def _object_field_selector(e: Causes, ref: Obj, path: str, allowed: Sequence[str]) -> None:
    api_version, field_path = e.text(ref, "apiVersion", path), e.text(ref, "fieldPath", path)
    if not api_version:
        e.required(_p(path, "apiVersion"))
        return
    if not field_path:
        e.required(_p(path, "fieldPath"))
        return
    if api_version != "v1":
        e.invalid(_p(path, "fieldPath"), field_path, f"error converting fieldPath: unsupported pod version: "
                  f"{api_version}")
        return
    subscripted = _SUBSCRIPTED_FIELD_PATH.fullmatch(field_path)
    if subscripted:
        key = subscripted[2].lower() if subscripted[1] == "metadata.annotations" else subscripted[2]
        _label_name(e, key, path)
    elif field_path not in _CONVERTIBLE_FIELD_PATHS:
        e.invalid(_p(path, "fieldPath"), field_path,
                  f"error converting fieldPath: field label not supported: {field_path}")
    elif field_path not in allowed:
        e.not_supported(_p(path, "fieldPath"), field_path, sorted(allowed))


def _resource_field_selector(e: Causes, ref: Obj, path: str, needs_container: bool) -> None:
    resource = e.text(ref, "resource", path)
    if needs_container and not e.text(ref, "containerName", path):
        e.required(_p(path, "containerName"))
    elif not resource:
        e.required(_p(path, "resource"))
    elif resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-",
                                                                              "limits.hugepages-")):
        e.not_supported(_p(path, "resource"), resource, _RESOURCE_FIELD_PATHS)


def _key_selector(e: Causes, ref: Obj, path: str) -> None:
    name = e.text(ref, "name", path)
    for msg in name_is_dns_subdomain(name):
        e.invalid(_p(path, "name"), name, msg)
    key = e.text(ref, "key", path)
    if not key:
        e.required(_p(path, "key"))
    for msg in _config_map_key_errors(key) if key else ():
        e.invalid(_p(path, "key"), key, msg)


def _env_from(e: Causes, container: Obj, path: str) -> None:
    list_path = _p(path, "envFrom")
    for _, item_path, source in e.objects(container, "envFrom", path):
        prefix = e.text(source, "prefix", item_path)
        for msg in _env_var_name_errors(prefix) if prefix else ():
            e.invalid(_p(item_path, "prefix"), prefix, msg)
        present = [key for key in ("configMapRef", "secretRef") if source.get(key) is not None]
        for key in present:
            ref, ref_path = e.mapping(source, key, item_path), _p(item_path, key)
            name = e.text(ref, "name", ref_path)
            if not name:
                e.required(_p(ref_path, "name"))
            for msg in name_is_dns_subdomain(name, True) if name else ():
                e.invalid(_p(ref_path, "name"), name, msg)
        if not present:
            e.invalid(list_path, "", "must specify one of: `configMapRef` or `secretRef`")
        elif len(present) > 1:
            e.invalid(list_path, "", "may not have more than one field specified at a time")


def _volume_mounts(e: Causes, container: Obj, path: str, volumes: dict[str, dict[str, Any]]) -> None:
    mounts_path, mount_points = _p(path, "volumeMounts"), set()
    privileged = _container_privileged(container)
    for _, item_path, mount in e.objects(container, "volumeMounts", path):
        name, mount_path = e.text(mount, "name", item_path), e.text(mount, "mountPath", item_path)
        if not name:
            e.required(_p(item_path, "name"))
        if name not in volumes:
            e.not_found(_p(item_path, "name"), name)
        if not mount_path:
            e.required(_p(item_path, "mountPath"))
        if mount_path in mount_points:
            e.invalid(_p(item_path, "mountPath"), mount_path, "must be unique")
        mount_points.add(mount_path)
        sub_path, sub_path_expr = e.text(mount, "subPath", item_path), e.text(mount, "subPathExpr", item_path)
        if sub_path:
            _local_descending_path(e, sub_path, _p(mounts_path, "subPath"))
        if sub_path_expr and sub_path:
            e.invalid(_p(item_path, "subPathExpr"), sub_path_expr, "subPathExpr and subPath are mutually exclusive")
        if sub_path_expr:
            _local_descending_path(e, sub_path_expr, _p(mounts_path, "subPathExpr"))
        _mount_propagation(e, mount, item_path, mounts_path, privileged)


def _mount_propagation(e: Causes, mount: Obj, item_path: str, mounts_path: str, privileged: bool) -> None:
    if mount.get("mountPropagation") is None:
        return
    mode, path = e.text(mount, "mountPropagation", item_path), _p(mounts_path, "mountPropagation")
    if mode not in ("HostToContainer", "Bidirectional", "None"):
        e.not_supported(path, mode, ("Bidirectional", "HostToContainer", "None"))
    elif mode == "Bidirectional" and not privileged:
        e.forbidden(path, "Bidirectional mount propagation is available only to privileged containers")


def _container_privileged(container: Obj) -> bool:
    context = container.get("securityContext")
    return isinstance(context, dict) and context.get("privileged") is True


def _local_descending_path(e: Causes, target: str, path: str) -> None:
    if target.startswith("/"):
        e.invalid(path, target, "must be a relative path")
    _no_backsteps(e, target, path)


def _no_backsteps(e: Causes, target: str, path: str) -> None:
    if ".." in target.split("/"):
        e.invalid(path, target, "must not contain '..'")


def _local_non_reserved_path(e: Causes, target: str, path: str) -> None:
    _local_descending_path(e, target, path)
    if target.startswith("..") and not target.startswith("../"):
        e.invalid(path, target, "must not start with '..'")


def _handler(e: Causes, handler: Any, path: str, grace: int | None, kinds_allowed: Sequence[str]) -> None:
    if not isinstance(handler, dict):
        e.type_invalid(path, handler, "object")
        return
    count = 0
    for kind in kinds_allowed:
        if handler.get(kind) is None:
            continue
        if count:
            e.forbidden(_p(path, kind), "may not specify more than 1 handler type")
            continue
        count += 1
        _handler_action(e, kind, e.mapping(handler, kind, path), _p(path, kind), grace)
    if count == 0:
        e.required(path, "must specify a handler type")


def _handler_action(e: Causes, kind: str, action: Obj, path: str, grace: int | None) -> None:
    if kind == "exec" and not e.strings(action, "command", path):
        e.required(_p(path, "command"))
    elif kind == "httpGet":
        if not e.text(action, "path", path):
            e.required(_p(path, "path"))
        _port_field(e, action, "port", path)
        scheme = e.text(action, "scheme", path)
        if scheme not in ("HTTP", "HTTPS"):
            e.not_supported(_p(path, "scheme"), scheme, ("HTTP", "HTTPS"))
        for _, header_path, header in e.objects(action, "httpHeaders", path):
            header_name = e.text(header, "name", header_path)
            for msg in is_http_header_name(header_name):
                e.invalid(_p(path, "httpHeaders"), header_name, msg)
    elif kind == "tcpSocket":
        _port_field(e, action, "port", path)
    elif kind == "grpc":
        _port_num_or_name(e, e.integer(action, "port", path) or 0, _p(path, "port"))
    elif kind == "sleep":
        seconds = e.integer(action, "seconds", path) or 0
        if grace is not None and not 0 <= seconds <= grace:
            e.invalid(path, seconds, f"must be non-negative and less than terminationGracePeriodSeconds ({grace})")


def _port_field(e: Causes, obj: Obj, key: str, path: str) -> None:
    """_port_num_or_name for the int-or-string obj[key]; its path (path.key) is built only for a cause."""
    port = e.int_or_string(obj, key, path)
    valid = not _port_name_errors(port) if isinstance(port, str) else 1 <= (port or 0) <= 65535
    if not valid:
        _port_num_or_name(e, port, _p(path, key))


def _port_num_or_name(e: Causes, port: int | str | None, path: str) -> None:
    if isinstance(port, str):
        for msg in is_valid_port_name(port):
            e.invalid(path, port, msg)
        return
    for msg in is_valid_port_num(port or 0):
        e.invalid(path, port or 0, msg)


_PROBE_COUNTS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold")


def _probe(e: Causes, probe: Any, path: str, grace: int | None, kind: str) -> None:
    if not isinstance(probe, dict):
        e.type_invalid(path, probe, "object")
        return
    _handler(e, probe, path, grace, _PROBE_HANDLERS)
    e.nonnegative_fields(probe, _PROBE_COUNTS, path)
    probe_grace = e.integer(probe, "terminationGracePeriodSeconds", path)
    if probe_grace is not None and probe_grace <= 0:
        e.invalid(_p(path, "terminationGracePeriodSeconds"), probe_grace, "must be greater than 0")
    success = _as_int(probe.get("successThreshold")) or 0
    if kind in ("livenessProbe", "startupProbe") and success != 1:
        e.invalid(_p(path, "successThreshold"), success, "must be 1")
    if kind == "readinessProbe" and probe_grace is not None:
        e.invalid(_p(path, "terminationGracePeriodSeconds"), probe_grace, "must not be set for readinessProbes")


def _resources(e: Causes, resources: Obj, path: str) -> None:
    limits = _resource_list(e, e.mapping(resources, "limits", path), path, "limits")
    requests = _resource_list(e, e.mapping(resources, "requests", path), path, "requests")
    for name, (amount, canonical) in requests.items():
        limit = limits.get(name)
        if limit is not None and amount != limit[0] and not _overcommit_allowed(name):
            e.invalid(_p(path, "requests"), canonical, f"must be equal to {name} limit of {limit[1]}")
        elif limit is not None and amount > limit[0]:
            e.invalid(_p(path, "requests"), canonical, f"must be less than or equal to {name} limit of {limit[1]}")
        elif limit is None and not _overcommit_allowed(name):
            e.required(_p(path, "limits"), "Limit must be set for non overcommitable resources")
    names = (*limits, *requests)
    if any(name.startswith("hugepages-") for name in names) and not ("cpu" in names or "memory" in names):
        e.forbidden(path, "HugePages require cpu or memory")


Quantity = tuple[Decimal, str]  # (amount, canonical spelling)
Problem = tuple[Any, str]  # (bad value, message) of one FieldValueInvalid cause


def _resource_list(e: Causes, resources: dict[str, Any], path: str, key: str) -> dict[str, Quantity]:
    """Each quantity of path.key parsed and checked; returns name -> (amount, canonical) for the valid ones."""
    parsed = {}
    for name, raw in resources.items():
        problems, quantity = _resource_entry(name, raw)
        for value, msg in problems:
            e.invalid(f"{_p(path, key)}[{name}]", value, msg)
        if quantity is not None:
            parsed[name] = quantity
    return parsed


def _resource_entry(name: str, raw: Any) -> tuple[tuple[Problem, ...], Quantity | None]:
    """The problems of one resource-list entry and its quantity (None when malformed); cached for short scalars."""
    short_raw = isinstance(raw, (int, float)) or isinstance(raw, str) and len(raw) <= REMEMBERED_LENGTH
    if short_raw and len(name) <= REMEMBERED_LENGTH:
        return _cached_resource_entry(name, raw)
    return _check_resource_entry(name, raw)


def _check_resource_entry(name: str, raw: Any) -> tuple[tuple[Problem, ...], Quantity | None]:
    problems = _container_resource_name_problems(name)
    try:
        amount, fmt = parse_quantity_with_format(raw)
    except ValueError as exc:
        return (*problems, (raw, str(exc))), None
    canonical = format_quantity(amount, fmt)
    if amount < 0:
        problems.append((canonical, "must be greater than or equal to 0"))
    if _integer_resource(name) and amount != amount.to_integral_value():
        problems.append((Raw(canonical), "must be an integer"))
    return tuple(problems), (amount, canonical)


# typed: True, 1 and 1.0 are different raw values (True is no quantity at all).
_cached_resource_entry = functools.lru_cache(maxsize=4096, typed=True)(_check_resource_entry)


def _container_resource_name_problems(name: str) -> list[Problem]:
    errors = _qualified_name_errors(name)
    if errors:
        return [(name, msg) for msg in errors]
    problems: list[Problem] = []
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not name.startswith("hugepages-"):
            problems.append((name, "must be a standard resource type or fully qualified"))
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            problems.append((name, "must be a standard resource for containers"))
    elif not _native_resource(name) and (name.startswith("requests.") or is_qualified_name("requests." + name)):
        problems.append((name, "doesn't follow extended resource name standard"))
    return problems


def _native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _overcommit_allowed(name: str) -> bool:
    return _native_resource(name) and not name.startswith("hugepages-")


def _integer_resource(name: str) -> bool:
    return not _native_resource(name) or name in ("pods", "services", "secrets", "configmaps",
                                                   "persistentvolumeclaims", "replicationcontrollers",
                                                   "resourcequotas", "services.nodeports", "services.loadbalancers")


def _id_range(e: Causes, obj: Obj, key: str, path: str) -> None:
    value = e.integer(obj, key, path)
    if value is not None and not 0 <= value <= _MAX_UID:
        e.invalid(_p(path, key), value, inclusive_range_error(0, _MAX_UID))


def _pod_security_context(e: Causes, context: Obj, path: str) -> None:
    for key in ("fsGroup", "runAsUser", "runAsGroup"):
        _id_range(e, context, key, path)
    for i, gid in enumerate(e.sequence(context, "supplementalGroups", path)):
        number = _as_int(gid)
        if number is None or not 0 <= number <= _MAX_UID:
            e.invalid(f"{_p(path, 'supplementalGroups')}[{i}]", gid, inclusive_range_error(0, _MAX_UID))
    if e.boolean(context, "shareProcessNamespace", path) and context.get("hostPID") is True:
        e.invalid(_p(path, "shareProcessNamespace"), True, "ShareProcessNamespace and HostPID cannot both be enabled")
    _sysctls(e, context, path)
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        e.not_supported(_p(path, "fsGroupChangePolicy"), policy, ("Always", "OnRootMismatch"))
    _seccomp_profile(e, context, path)


_SYSCTL_FMT = "([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SYSCTL = re.compile(_SYSCTL_FMT)


def _sysctls(e: Causes, context: Obj, path: str) -> None:
    names: set[str] = set()
    for _, item_path, sysctl in e.objects(context, "sysctls", path):
        name = e.text(sysctl, "name", item_path)
        if not name:
            e.required(_p(item_path, "name"))
        elif len(name) > 253 or not _SYSCTL.fullmatch(name):
            e.invalid(_p(item_path, "name"), name, f"must have at most 253 characters and match regex ^{_SYSCTL_FMT}$")
        elif name in names:
            e.duplicate(_p(item_path, "name"), name)
        names.add(name)


def _seccomp_profile(e: Causes, context: Obj, path: str) -> None:
    profile = context.get("seccompProfile")
    if profile is None:
        return
    type_path = _p(_p(path, "seccompProfile"), "type")
    kind = e.text(e.mapping(context, "seccompProfile", path), "type", _p(path, "seccompProfile"))
    if not kind:
        e.required(type_path, "type is required when seccompProfile is set")
    elif kind not in ("Localhost", "RuntimeDefault", "Unconfined"):
        e.not_supported(type_path, kind, ("Localhost", "RuntimeDefault", "Unconfined"))


def _container_security_context(e: Causes, container: Obj, path: str) -> None:
    if container.get("securityContext") is None:
        return
    context, context_path = e.mapping(container, "securityContext", path), _p(path, "securityContext")
    for key in ("runAsUser", "runAsGroup"):
        _id_range(e, context, key, context_path)
    proc_mount = context.get("procMount")
    if proc_mount is not None and proc_mount not in ("Default", "Unmasked"):
        e.not_supported(_p(context_path, "procMount"), proc_mount, ("Default", "Unmasked"))
    _seccomp_profile(e, context, context_path)
    if context.get("allowPrivilegeEscalation") is False and context.get("privileged") is True:
        e.invalid(context_path, context, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")


def _tolerations(e: Causes, spec: Obj, path: str, key: str = "tolerations") -> None:
    for _, item_path, toleration in e.objects(spec, key, path):
        _toleration(e, toleration, item_path)


def _toleration(e: Causes, toleration: Obj, path: str) -> None:
    key, operator = e.text(toleration, "key", path), e.text(toleration, "operator", path)
    value, effect = e.text(toleration, "value", path), e.text(toleration, "effect", path)
    if key and _qualified_name_errors(key):
        _label_name(e, key, _p(path, "key"))
    if not key and operator != "Exists":
        e.invalid(_p(path, "operator"), operator,
                  'operator must be Exists when `key` is empty, which means "match all values and all keys"')
    if e.integer(toleration, "tolerationSeconds", path) is not None and effect != "NoExecute":
        e.invalid(_p(path, "effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set")
    if operator in ("Equal", ""):
        errors = _label_value_errors(value)
        if errors:
            e.invalid(_p(path, "operator"), value, ";".join(errors))
    elif operator == "Exists":
        if value:
            e.invalid(_p(path, "operator"), value, "value must be empty when `operator` is 'Exists'")
    else:
        e.not_supported(_p(path, "operator"), operator, ("Equal", "Exists"))
    if effect and effect not in _TAINT_EFFECTS:
        e.not_supported(_p(path, "effect"), effect, _TAINT_EFFECTS)


def _host_aliases(e: Causes, spec: Obj, path: str) -> None:
    for _, item_path, alias in e.objects(spec, "hostAliases", path):
        ip = e.text(alias, "ip", item_path)
        if parse_ip(ip) is None:
            e.invalid(_p(item_path, "ip"), ip, IP_FORMAT_ERROR)
        for j, hostname in enumerate(e.strings(alias, "hostnames", item_path)):
            for msg in is_dns1123_subdomain(hostname):
                e.invalid(f"{item_path}.hostnames[{j}]", hostname, msg)


def _dns_config(e: Causes, spec: Obj, path: str) -> None:
    config_path, config = _p(path, "dnsConfig"), spec.get("dnsConfig")
    nameservers = e.strings(config, "nameservers", config_path) if isinstance(config, dict) else []
    if spec.get("dnsPolicy") == "None" and not isinstance(config, dict):
        e.required(config_path, "must provide `dnsConfig` when `dnsPolicy` is None")
        return
    if spec.get("dnsPolicy") == "None" and not nameservers:
        e.required(_p(config_path, "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")
        return
    if config is None:
        return
    config = e.mapping(spec, "dnsConfig", path)
    if len(nameservers) > 3:
        e.invalid(_p(config_path, "nameservers"), nameservers, "must not have more than 3 nameservers")
    for i, server in enumerate(nameservers):
        if parse_ip(server) is None:
            e.invalid(f"{config_path}.nameservers[{i}]", server, IP_FORMAT_ERROR)
    searches = e.strings(config, "searches", config_path)
    if len(searches) > 32:
        e.invalid(_p(config_path, "searches"), searches, "must not have more than 32 search paths")
    if len(" ".join(searches)) > 2048:
        e.invalid(_p(config_path, "searches"), searches,
                  "must not have more than 2048 characters (including spaces) in the search list")
    for i, search in enumerate(searches):
        if search != ".":
            for msg in _subdomain_with_underscore(search.removesuffix(".")):
                e.invalid(f"{config_path}.searches[{i}]", search.removesuffix("."), msg)
    for _, item_path, option in e.objects(config, "options", config_path):
        if not e.text(option, "name", item_path):
            e.required(item_path, "must not be empty")


_UNDERSCORE_LABEL_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_UNDERSCORE_SUBDOMAIN_FMT = f"{_UNDERSCORE_LABEL_FMT}(\\.{_UNDERSCORE_LABEL_FMT})*"
_UNDERSCORE_SUBDOMAIN = re.compile(_UNDERSCORE_SUBDOMAIN_FMT)


def _subdomain_with_underscore(value: str) -> list[str]:
    errs = [max_len_error(MAX_SUBDOMAIN_LENGTH)] if len(value) > MAX_SUBDOMAIN_LENGTH else []
    if not _UNDERSCORE_SUBDOMAIN.fullmatch(value):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                                "'_', '-' or '.', and must start and end with an alphanumeric character",
                                _UNDERSCORE_SUBDOMAIN_FMT, "example.com"))
    return errs


def _affinity(e: Causes, affinity: Obj, path: str) -> None:
    node = e.mapping(affinity, "nodeAffinity", path)
    node_path = _p(path, "nodeAffinity")
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        required_path = _p(node_path, "requiredDuringSchedulingIgnoredDuringExecution")
        terms = list(e.objects(e.mapping(node, "requiredDuringSchedulingIgnoredDuringExecution", node_path),
                               "nodeSelectorTerms", required_path))
        if not terms:
            e.required(_p(required_path, "nodeSelectorTerms"), "must have at least one node selector term")
        for _, term_path, term in terms:
            _node_selector_term(e, term, term_path)
    for _, item_path, preferred in e.objects(node, "preferredDuringSchedulingIgnoredDuringExecution", node_path):
        _weight(e, preferred, item_path)
        _node_selector_term(e, e.mapping(preferred, "preference", item_path), _p(item_path, "preference"))
    for kind in ("podAffinity", "podAntiAffinity"):
        _pod_affinity(e, e.mapping(affinity, kind, path), _p(path, kind))


def _weight(e: Causes, item: Obj, path: str) -> None:
    weight = e.integer(item, "weight", path) or 0
    if not 1 <= weight <= 100:
        e.invalid(_p(path, "weight"), weight, "must be in the range 1-100")


def _node_selector_term(e: Causes, term: Obj, path: str) -> None:
    for _, item_path, requirement in e.objects(term, "matchExpressions", path):
        operator, values = e.text(requirement, "operator", item_path), e.strings(requirement, "values", item_path)
        if operator in ("In", "NotIn") and not values:
            e.required(_p(item_path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
        elif operator in ("Exists", "DoesNotExist") and values:
            e.forbidden(_p(item_path, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        elif operator in ("Gt", "Lt") and len(values) != 1:
            e.required(_p(item_path, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'")
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
            e.invalid(_p(item_path, "operator"), operator, "not a valid selector operator")
        _label_name(e, e.text(requirement, "key", item_path), _p(item_path, "key"))
        for j, value in enumerate(values):
            for msg in _label_value_errors(value):
                e.invalid(f"{item_path}.values[{j}]", value, msg)


def _pod_affinity(e: Causes, affinity: Obj, path: str) -> None:
    required_key, preferred_key = ("requiredDuringSchedulingIgnoredDuringExecution",
                                   "preferredDuringSchedulingIgnoredDuringExecution")
    for _, item_path, term in e.objects(affinity, required_key, path):
        _pod_affinity_term(e, term, item_path)
    for _, item_path, weighted in e.objects(affinity, preferred_key, path):
        _weight(e, weighted, item_path)
        _pod_affinity_term(e, e.mapping(weighted, "podAffinityTerm", item_path), _p(item_path, "podAffinityTerm"))


def _pod_affinity_term(e: Causes, term: Obj, path: str) -> None:
    _label_selector(e, term.get("labelSelector"), _p(path, "labelSelector"))
    _label_selector(e, term.get("namespaceSelector"), _p(path, "namespaceSelector"))
    for i, namespace in enumerate(e.strings(term, "namespaces", path)):
        for msg in _dns1123_label_errors(namespace):
            e.invalid(f"{path}.namespaces[{i}]", namespace, msg)
    topology_key = e.text(term, "topologyKey", path)
    if not topology_key:
        e.required(_p(path, "topologyKey"), "can not be empty")
    else:
        _label_name(e, topology_key, _p(path, "topologyKey"))


# --------------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------------

def _volumes(e: Causes, spec: Obj, path: str) -> dict[str, dict[str, Any]]:
    """Validates spec.volumes; returns the well-formed ones by name (mounts may only use those)."""
    valid: dict[str, dict[str, Any]] = {}
    for _, item_path, volume in e.objects(spec, "volumes", path):
        before = len(e.causes)
        _volume_source(e, volume, item_path)
        name = e.text(volume, "name", item_path)
        if not name:
            e.required(_p(item_path, "name"))
        for msg in _dns1123_label_errors(name) if name else ():
            e.invalid(_p(item_path, "name"), name, msg)
        if name in valid:
            e.duplicate(_p(item_path, "name"), name)
        if len(e.causes) == before:
            valid[name] = volume
    return valid


_VOLUME_SOURCE_ORDER = {source: i for i, source in enumerate(_VOLUME_SOURCES)}


def _volume_source(e: Causes, volume: Obj, path: str) -> None:
    present = [key for key, value in volume.items() if key in _VOLUME_SOURCE_ORDER and value is not None]
    if not present:
        e.required(path, "must specify a volume type")
        return
    present.sort(key=_VOLUME_SOURCE_ORDER.__getitem__)  # upstream's order decides which one counts
    source = present[0]
    check = _VOLUME_CHECKS.get(source)
    if check is not None:
        check(e, e.mapping(volume, source, path), _p(path, source))
    for extra in present[1:]:
        e.forbidden(_p(path, _VOLUME_FORBIDDEN_PATH.get(extra, extra)), "may not specify more than 1 volume type")


def _empty_dir(e: Causes, source: Obj, path: str) -> None:
    if source.get("sizeLimit") is None:
        return
    try:
        negative = parse_quantity(source["sizeLimit"]) < 0
    except ValueError as exc:
        e.invalid(_p(path, "sizeLimit"), source["sizeLimit"], str(exc))
        return
    if negative:
        e.forbidden(_p(path, "sizeLimit"), "SizeLimit field must be a valid resource quantity")


def _host_path(e: Causes, source: Obj, path: str) -> None:
    host_path = e.text(source, "path", path)
    if not host_path:
        e.required(_p(path, "path"))
        return
    _no_backsteps(e, host_path, _p(path, "path"))
    if source.get("type") is not None and e.text(source, "type", path) not in _HOST_PATH_TYPES:
        e.not_supported(_p(path, "type"), e.text(source, "type", path), _HOST_PATH_TYPES)


def _file_mode(e: Causes, obj: Obj, key: str, path: str) -> None:
    mode = e.integer(obj, key, path)
    if mode is not None and not 0 <= mode <= 0o777:
        e.invalid(_p(path, key), mode, _FILE_MODE_ERROR)


def _key_to_paths(e: Causes, source: Obj, path: str) -> list[str]:
    paths = []
    for _, item_path, item in e.objects(source, "items", path):
        if not e.text(item, "key", item_path):
            e.required(_p(item_path, "key"))
        target = e.text(item, "path", item_path)
        if not target:
            e.required(_p(item_path, "path"))
        _local_non_reserved_path(e, target, _p(item_path, "path"))
        _file_mode(e, item, "mode", item_path)
        paths.append(target)
    return paths


def _named_source(name_key: str) -> Callable[[Causes, Obj, str], None]:
    def check(e: Causes, source: Obj, path: str) -> None:
        if not e.text(source, name_key, path):
            e.required(_p(path, name_key))
        _file_mode(e, source, "defaultMode", path)
        _key_to_paths(e, source, path)
    return check


def _persistent_volume_claim(e: Causes, source: Obj, path: str) -> None:
    if not e.text(source, "claimName", path):
        e.required(_p(path, "claimName"))


def _nfs(e: Causes, source: Obj, path: str) -> None:
    if not e.text(source, "server", path):
        e.required(_p(path, "server"))
    nfs_path = e.text(source, "path", path)
    if not nfs_path:
        e.required(_p(path, "path"))
    if not nfs_path.startswith("/"):
        e.invalid(_p(path, "path"), nfs_path, "must be an absolute path")


def _downward_api(e: Causes, source: Obj, path: str) -> None:
    _file_mode(e, source, "defaultMode", path)
    for _, item_path, item in e.objects(source, "items", path):
        _downward_api_file(e, item, item_path, path)


def _downward_api_file(e: Causes, item: Obj, item_path: str, path: str) -> None:
    """Upstream reports these under the volume source's path, not the item's (kept)."""
    target = e.text(item, "path", item_path)
    if not target:
        e.required(_p(path, "path"))
    _local_non_reserved_path(e, target, _p(path, "path"))
    if item.get("fieldRef") is not None:
        _object_field_selector(e, e.mapping(item, "fieldRef", item_path), _p(path, "fieldRef"),
                               ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
                                "metadata.uid"))
        if item.get("resourceFieldRef") is not None:
            e.invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously")
    elif item.get("resourceFieldRef") is not None:
        _resource_field_selector(e, e.mapping(item, "resourceFieldRef", item_path), _p(path, "resourceFieldRef"),
                                 needs_container=True)
    else:
        e.required(path, "one of fieldRef and resourceFieldRef is required")
    _file_mode(e, item, "mode", path)


def _projected(e: Causes, source: Obj, path: str) -> None:
    _file_mode(e, source, "defaultMode", path)
    seen: set[str] = set()
    for _, source_path, projection in e.objects(source, "sources", path):
        present = [key for key in ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
                   if projection.get(key) is not None]
        if len(present) > 1:
            e.forbidden(source_path, "may not specify more than 1 volume type per source")
        for key in present:
            _projection(e, key, e.mapping(projection, key, source_path), _p(source_path, key), path, seen)


def _projection(e: Causes, key: str, source: Obj, path: str, volume_path: str, seen: set[str]) -> None:
    if key in ("secret", "configMap"):
        if not e.text(source, "name", path):
            e.required(_p(path, "name"))
        for target in _key_to_paths(e, source, path):
            if target and target in seen:
                e.invalid(volume_path, e.text(source, "name", path), "conflicting duplicate paths")
            seen.add(target)
    elif key == "downwardAPI":
        _downward_api(e, source, path)
    elif key == "serviceAccountToken":
        _service_account_token_projection(e, source, path)


def _service_account_token_projection(e: Causes, source: Obj, path: str) -> None:
    expiration = e.integer(source, "expirationSeconds", path)
    if expiration is not None and expiration < 600:
        e.invalid(_p(path, "expirationSeconds"), expiration, "may not specify a duration less than 10 minutes")
    if expiration is not None and expiration > 2**32:
        e.invalid(_p(path, "expirationSeconds"), expiration, "may not specify a duration larger than 2^32 seconds")
    target = e.text(source, "path", path)
    if not target:
        e.required(_p(path, "path"))
    _local_non_reserved_path(e, target, _p(path, "path"))


_VOLUME_CHECKS: dict[str, Callable[[Causes, Obj, str], None]] = {
    "emptyDir": _empty_dir, "hostPath": _host_path, "secret": _named_source("secretName"),
    "configMap": _named_source("name"), "persistentVolumeClaim": _persistent_volume_claim, "nfs": _nfs,
    "downwardAPI": _downward_api, "projected": _projected,
}


# --------------------------------------------------------------------------------------------------
# Pods and pod templates
# --------------------------------------------------------------------------------------------------

_UPDATABLE_POD_FIELDS = ("`spec.containers[*].image`", "`spec.initContainers[*].image`",
                         "`spec.activeDeadlineSeconds`", "`spec.tolerations` (only additions to existing tolerations)",
                         "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")


def _gates(e: Causes, spec: Obj, path: str) -> None:
    for _, item_path, gate in e.objects(spec, "readinessGates", path):
        _label_name(e, e.text(gate, "conditionType", item_path), _p(item_path, "conditionType"))
    seen: set[str] = set()
    for _, item_path, gate in e.objects(spec, "schedulingGates", path):
        name = e.text(gate, "name", item_path)
        _label_name(e, name, item_path)
        if name in seen:
            e.duplicate(item_path, name)
        seen.add(name)


MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"


def _pod_annotations(e: Causes, meta: Any, spec: Obj, path: str) -> None:
    """ValidatePodSpecificAnnotations: mirror pods name their node; a deletion cost is an int32."""
    annotations = _mapping(meta, "annotations")
    mirror = annotations.get(MIRROR_POD_ANNOTATION)
    if isinstance(mirror, str) and not spec.get("nodeName"):
        e.invalid(f"{path}[{MIRROR_POD_ANNOTATION}]", mirror, "must set spec.nodeName if mirror pod annotation is set")
    cost = annotations.get(POD_DELETION_COST_ANNOTATION)
    if isinstance(cost, str) and not (_INTEGER.fullmatch(cost) and -2**31 <= int(cost) < 2**31):
        e.invalid(f"{path}[{POD_DELETION_COST_ANNOTATION}]", cost, "must be a 32bit integer")


def _validate_pod(e: Causes, pod: Obj, old: Obj | None) -> None:
    spec = e.mapping(pod, "spec", "")
    _pod_annotations(e, pod.get("metadata"), spec, "metadata.annotations")
    _pod_spec(e, spec, "spec", is_pod=True)
    _gates(e, spec, "spec")
    if old is not None:
        _pod_update(e, spec, _mapping(old, "spec"))
        return
    if spec.get("ephemeralContainers"):
        e.forbidden("spec.ephemeralContainers", "cannot be set on create")
    if spec.get("nodeName") and spec.get("schedulingGates"):
        e.forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")


def _pod_update(e: Causes, new: Obj, old: Obj) -> None:
    for key in ("containers", "initContainers"):
        if len(_list(new.get(key))) != len(_list(old.get(key))):
            e.forbidden(f"spec.{key}", "pod updates may not add or remove containers")
            return
    if not _active_deadline_update(e, new, old):
        return
    if not _tolerations_kept(_list(old.get("tolerations")), _list(new.get("tolerations"))):
        e.forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")
    if new == old:
        return
    munged = _munged_pod_spec(new, old)
    if semantic(munged) != semantic(old):
        e.forbidden("spec", "pod updates may not change fields other than " + ",".join(_UPDATABLE_POD_FIELDS)
                    + "\n" + _spec_diff(old, munged))


def _active_deadline_update(e: Causes, new: Obj, old: Obj) -> bool:
    """Allowed: nil -> positive, or lowering a positive value.  False stops further update checks (as upstream)."""
    path = "spec.activeDeadlineSeconds"
    after, before = _as_int(new.get("activeDeadlineSeconds")), _as_int(old.get("activeDeadlineSeconds"))
    if after is not None and not 0 <= after <= 2**31 - 1:
        e.invalid(path, after, inclusive_range_error(0, 2**31 - 1))
        return False
    if after is not None and before is not None and before < after:
        e.invalid(path, after, "must be less than or equal to previous value")
        return False
    if after is None and before is not None:
        e.invalid(path, None, "must not update from a positive integer to nil value")
    return True


def _tolerations_kept(old: list[Any], new: list[Any]) -> bool:
    """Every old toleration is still there, tolerationSeconds aside (unchanged lists, the usual case, are)."""
    return old == new or all(any(_same_toleration(before, after) for after in new) for before in old)


def _same_toleration(before: Any, after: Any) -> bool:
    if before == after or not isinstance(before, dict) or not isinstance(after, dict):
        return before == after
    strip = (lambda t: semantic({k: v for k, v in t.items() if k != "tolerationSeconds"}))
    return strip(before) == strip(after)


def _munged_pod_spec(new: Obj, old: Obj) -> Obj:
    """The new spec with the updatable fields put back to their old values."""
    munged = json.loads(json.dumps(new, default=str))
    for key in ("containers", "initContainers"):
        for container, before in zip(_list(munged.get(key)), _list(old.get(key))):
            if isinstance(container, dict) and isinstance(before, dict):
                _set_or_pop(container, "image", before.get("image"))
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        _set_or_pop(munged, key, old.get(key))
    old_grace = _as_int(old.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and _as_int(munged.get("terminationGracePeriodSeconds")) == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    old_selector, new_selector = _mapping(old, "nodeSelector"), _mapping(munged, "nodeSelector")
    if old.get("schedulingGates") and all(new_selector.get(k) == v for k, v in old_selector.items()):
        _set_or_pop(munged, "nodeSelector", old.get("nodeSelector"))  # gated pods may add node selectors
    return munged


def _set_or_pop(obj: Obj, key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value


def semantic(value: Any) -> Any:
    """Upstream's semantic equality: absent, null, "" and empty lists/maps are the same."""
    if isinstance(value, dict):
        cleaned = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def _spec_diff(old: Obj, new: Obj) -> str:
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = semantic(old.get(key)), semantic(new.get(key))
        if before != after:
            lines.append(f"-   {key}: {json.dumps(before, default=str)}")
            lines.append(f"+   {key}: {json.dumps(after, default=str)}")
    return "\n".join(lines)


def _template_labels(template: Obj) -> dict[str, str] | None:
    labels = _mapping(template, "metadata").get("labels")
    return {k: v for k, v in labels.items() if isinstance(v, str)} if isinstance(labels, dict) else None


def _pod_template(e: Causes, template: Obj, path: str) -> None:
    """ValidatePodTemplateSpec: labels and annotations are reported under the template's own path (as upstream)."""
    meta, meta_path = e.mapping(template, "metadata", path), _p(path, "metadata")
    if labels := e.string_map(meta, "labels", meta_path):
        _labels(e, labels, _p(path, "labels"))
    if annotations := e.string_map(meta, "annotations", meta_path):
        _annotations(e, annotations, _p(path, "annotations"))
    spec, spec_path = e.mapping(template, "spec", path), _p(path, "spec")
    _pod_annotations(e, meta, spec, _p(path, "annotations"))
    _pod_spec(e, spec, spec_path, is_pod=False)
    _gates(e, spec, spec_path)
    if spec.get("ephemeralContainers"):
        e.forbidden(_p(spec_path, "ephemeralContainers"), "ephemeral containers not allowed in pod template")


def _selector_matches_template(e: Causes, selector: Selector, template: Obj, path: str) -> None:
    labels = _template_labels(template)
    if not selector.empty() and not selector.matches(labels or {}):
        e.invalid(_p(_p(path, "metadata"), "labels"), _labels_value(labels),
                  "`selector` does not match template `labels`")


def _always_restarting_template(e: Causes, template: Obj, path: str, owner: str) -> None:
    spec = _mapping(template, "spec")
    restart = _text(spec.get("restartPolicy"))
    if restart != "Always":
        e.not_supported(_p(_p(path, "spec"), "restartPolicy"), restart, ("Always",))
    if spec.get("activeDeadlineSeconds") is not None:
        e.forbidden(_p(_p(path, "spec"), "activeDeadlineSeconds"), f"activeDeadlineSeconds in {owner} is not Supported")


def _replica_template(e: Causes, spec: Obj, selector: Selector, path: str) -> None:
    """ValidatePodTemplateSpecForReplicaSet (Deployments use it too)."""
    template, template_path = e.mapping(spec, "template", path), _p(path, "template")
    _selector_matches_template(e, selector, template, template_path)
    _pod_template(e, template, template_path)
    _always_restarting_template(e, template, template_path, "ReplicaSet")


def _validate_replication_controller(e: Causes, obj: Obj, old: Obj | None) -> None:
    """ValidateReplicationControllerSpec: the selector is a plain label map (defaulted from the template's labels),
    required non-empty, and, unlike apps/v1 selectors, mutable."""
    spec, path = e.mapping(obj, "spec", ""), "spec"
    e.nonnegative("spec.minReadySeconds", e.integer(spec, "minReadySeconds", path))
    selector = e.string_map(spec, "selector", path) or {}
    if not selector:
        e.required("spec.selector")
    _labels(e, selector, "spec.selector")
    e.nonnegative("spec.replicas", e.integer(spec, "replicas", path))
    if spec.get("template") is None:
        e.required("spec.template")
        return
    template, template_path = e.mapping(spec, "template", path), "spec.template"
    labels = _template_labels(template)
    if selector and not all((labels or {}).get(k) == v for k, v in selector.items()):
        e.invalid("spec.template.metadata.labels", _labels_value(labels),
                  "`selector` does not match template `labels`")
    _pod_template(e, template, template_path)
    _always_restarting_template(e, template, template_path, "ReplicationController")


# --------------------------------------------------------------------------------------------------
# apps/v1
# --------------------------------------------------------------------------------------------------

def _workload_selector(e: Causes, spec: Obj, path: str, owner: str, required: bool = True) -> Selector | None:
    """Checks spec.selector; returns it parsed, or None when it is malformed."""
    raw, selector_path = spec.get("selector"), _p(path, "selector")
    if raw is None and required:
        e.required(selector_path)
    _label_selector(e, raw, selector_path)
    if isinstance(raw, dict) and not raw.get("matchLabels") and not raw.get("matchExpressions"):
        e.invalid(selector_path, raw, f"empty selector is invalid for {owner}")
    return parse_selector(raw)


def _int_or_percent(value: Any) -> int:
    """getIntOrPercentValue: a percent's number, an int, or a string's Atoi (0 when not numeric)."""
    if isinstance(value, str):
        number = value[:-1] if not is_valid_percent(value) else value
        return int(number) if _INTEGER.fullmatch(number) else 0
    return _as_int(value) or 0


def _positive_int_or_percent(e: Causes, value: Any, path: str) -> None:
    if isinstance(value, str):
        for msg in is_valid_percent(value):
            e.invalid(path, Raw(value), msg)
    elif value is not None and _as_int(value) is None:
        e.invalid(path, value, "must be an integer or percentage (e.g '5%')")
    else:
        e.nonnegative(path, _as_int(value))


def _not_more_than_100_percent(e: Causes, value: Any, path: str) -> None:
    if isinstance(value, str) and not is_valid_percent(value) and int(value[:-1]) > 100:
        e.invalid(path, Raw(value), "must not be greater than 100%")


def _validate_deployment(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    e.nonnegative("spec.replicas", e.integer(spec, "replicas", path))
    selector = _workload_selector(e, spec, path, "deployment")
    if selector is None:
        e.invalid("spec.selector", spec.get("selector"), "invalid label selector")
    else:
        _replica_template(e, spec, selector, path)
    _deployment_strategy(e, spec.get("strategy"), "spec.strategy")
    min_ready = e.integer(spec, "minReadySeconds", path)
    e.nonnegative("spec.minReadySeconds", min_ready)
    e.nonnegative("spec.revisionHistoryLimit", e.integer(spec, "revisionHistoryLimit", path))
    deadline = e.integer(spec, "progressDeadlineSeconds", path)
    if deadline is not None:
        e.nonnegative("spec.progressDeadlineSeconds", deadline)
        if deadline <= (min_ready or 0):
            e.invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")
    if old is not None:
        _immutable(e, spec.get("selector"), _mapping(old, "spec").get("selector"), "spec.selector")


def _deployment_strategy(e: Causes, strategy: Any, path: str) -> None:
    strategy = strategy if isinstance(strategy, dict) else {}
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind == "Recreate" and rolling is not None:
        e.forbidden(_p(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
    elif kind == "RollingUpdate" and not isinstance(rolling, dict):
        e.required(_p(path, "rollingUpdate"), "this should be defaulted and never be nil")
    elif kind == "RollingUpdate":
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        _positive_int_or_percent(e, unavailable, _p(_p(path, "rollingUpdate"), "maxUnavailable"))
        _positive_int_or_percent(e, surge, _p(_p(path, "rollingUpdate"), "maxSurge"))
        if _int_or_percent(unavailable) == 0 and _int_or_percent(surge) == 0:
            e.invalid(_p(_p(path, "rollingUpdate"), "maxUnavailable"), Raw(str(unavailable or 0)),
                      "may not be 0 when `maxSurge` is 0")
        _not_more_than_100_percent(e, unavailable, _p(_p(path, "rollingUpdate"), "maxUnavailable"))
    elif kind not in ("Recreate", "RollingUpdate"):
        e.not_supported(path, strategy, ("Recreate", "RollingUpdate"))


def _immutable(e: Causes, new: Any, old: Any, path: str) -> None:
    if new != old and semantic(new) != semantic(old):
        e.invalid(path, new, "field is immutable")


def _validate_replica_set(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    e.nonnegative("spec.replicas", e.integer(spec, "replicas", path))
    e.nonnegative("spec.minReadySeconds", e.integer(spec, "minReadySeconds", path))
    selector = _workload_selector(e, spec, path, "deployment")  # sic: upstream says deployment here too
    if selector is None:
        e.invalid("spec.selector", spec.get("selector"), "invalid label selector")
    else:
        _replica_template(e, spec, selector, path)
    if old is not None:
        _immutable(e, spec.get("selector"), _mapping(old, "spec").get("selector"), "spec.selector")


def _validate_daemon_set(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    selector = _workload_selector(e, spec, path, "daemonset", required=False)
    template, template_path = e.mapping(spec, "template", path), "spec.template"
    if selector is not None and not selector.matches(_template_labels(template) or {}):
        e.invalid("spec.template.metadata.labels", _labels_value(_template_labels(template)),
                  "`selector` does not match template `labels`")
    _pod_template(e, template, template_path)
    _always_restarting_template(e, template, template_path, "DaemonSet")
    e.nonnegative("spec.minReadySeconds", e.integer(spec, "minReadySeconds", path))
    e.nonnegative("spec.templateGeneration", e.integer(spec, "templateGeneration", path))
    _daemon_set_strategy(e, spec.get("updateStrategy"), "spec.updateStrategy")
    e.nonnegative("spec.revisionHistoryLimit", e.integer(spec, "revisionHistoryLimit", path))
    if old is not None:
        _immutable(e, spec.get("selector"), _mapping(old, "spec").get("selector"), "spec.selector")


def _daemon_set_strategy(e: Causes, strategy: Any, path: str) -> None:
    strategy = strategy if isinstance(strategy, dict) else {}
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind == "OnDelete":
        return
    if kind != "RollingUpdate":
        e.not_supported(path, strategy, ("RollingUpdate", "OnDelete"))
    elif not isinstance(rolling, dict):
        e.required(_p(path, "rollingUpdate"))
    else:
        rolling_path = _p(path, "rollingUpdate")
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        _positive_int_or_percent(e, unavailable, _p(rolling_path, "maxUnavailable"))
        _positive_int_or_percent(e, surge, _p(rolling_path, "maxSurge"))
        _not_more_than_100_percent(e, unavailable, _p(rolling_path, "maxUnavailable"))
        _not_more_than_100_percent(e, surge, _p(rolling_path, "maxSurge"))
        has_unavailable, has_surge = _int_or_percent(unavailable) != 0, _int_or_percent(surge) != 0
        if has_unavailable and has_surge:
            e.invalid(_p(rolling_path, "maxSurge"), Raw(str(surge)), "may not be set when maxUnavailable is non-zero")
        elif not has_unavailable and not has_surge:
            e.required(_p(rolling_path, "maxUnavailable"), "cannot be 0 when maxSurge is 0")


def _validate_stateful_set(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    policy = e.text(spec, "podManagementPolicy", path)
    if not policy:
        e.required("spec.podManagementPolicy")
    elif policy not in ("OrderedReady", "Parallel"):
        e.invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
    _stateful_set_strategy(e, e.mapping(spec, "updateStrategy", path), "spec.updateStrategy")
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled") if retention is not None else ():
        value = e.text(e.mapping(spec, "persistentVolumeClaimRetentionPolicy", path), key, path)
        if value not in ("Retain", "Delete"):
            e.not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", value, ("Retain", "Delete"))
    e.nonnegative_fields(spec, ("replicas", "minReadySeconds"), path)
    e.nonnegative("spec.ordinals.start", e.integer(e.mapping(spec, "ordinals", path), "start", "spec.ordinals"))
    selector = _workload_selector(e, spec, path, "statefulset")
    template = e.mapping(spec, "template", path)
    if selector is None:
        e.invalid("spec.selector", spec.get("selector"))
    else:
        _stateful_set_template(e, template, selector)
    _always_restarting_template(e, template, "spec.template", "StatefulSet")
    if old is not None:
        _stateful_set_update(e, spec, _mapping(old, "spec"))


def _stateful_set_template(e: Causes, template: Obj, selector: Selector) -> None:
    """Upstream checks only labels and annotations of a StatefulSet's template (its pods are checked on create)."""
    _selector_matches_template(e, selector, template, "spec.template")
    meta = e.mapping(template, "metadata", "spec.template")
    _labels(e, e.string_map(meta, "labels", "spec.template.metadata"), "spec.template.labels")
    _annotations(e, e.string_map(meta, "annotations", "spec.template.metadata"), "spec.template.annotations")


def _stateful_set_strategy(e: Causes, strategy: Obj, path: str) -> None:
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if not kind:
        e.required(path)
    elif kind == "OnDelete" and rolling is not None:
        e.invalid(_p(path, "rollingUpdate"), rolling, "only allowed for updateStrategy 'RollingUpdate'")
    elif kind == "RollingUpdate" and isinstance(rolling, dict):
        rolling_path = _p(path, "rollingUpdate")
        e.nonnegative_field(rolling, "partition", rolling_path)
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None:
            _positive_int_or_percent(e, unavailable, _p(rolling_path, "maxUnavailable"))
            if _int_or_percent(unavailable) == 0:
                e.invalid(_p(rolling_path, "maxUnavailable"), Raw(str(unavailable)), "cannot be 0")
            _not_more_than_100_percent(e, unavailable, _p(rolling_path, "maxUnavailable"))
    elif kind not in ("OnDelete", "RollingUpdate"):
        e.invalid(path, strategy, "must be 'RollingUpdate' or 'OnDelete'")


def _stateful_set_update(e: Causes, spec: Obj, old: Obj) -> None:
    mutable = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
               "minReadySeconds")
    if semantic({k: v for k, v in spec.items() if k not in mutable}) != \
            semantic({k: v for k, v in old.items() if k not in mutable}):
        e.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


# --------------------------------------------------------------------------------------------------
# batch/v1
# --------------------------------------------------------------------------------------------------

JOB_NAME_LABEL, LEGACY_JOB_NAME_LABEL = "batch.kubernetes.io/job-name", "job-name"
CONTROLLER_UID_LABEL, LEGACY_CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid", "controller-uid"


def _validate_job(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, meta = e.mapping(obj, "spec", ""), _mapping(obj, "metadata")
    if old is None:
        _generated_selector(e, spec, meta)
    _job_spec(e, spec, "spec")
    raw = spec.get("selector")
    if raw is None:
        e.required("spec.selector")
    _label_selector(e, raw, "spec.selector")
    selector, labels = parse_selector(raw), _template_labels(_mapping(spec, "template"))
    if selector is not None and not selector.matches(labels or {}):
        e.invalid("spec.template.metadata.labels", _labels_value(labels), "`selector` does not match template `labels`")
    if old is None:
        _indexed_job_hostnames(e, spec, _text(meta.get("name")))
    else:
        _job_update(e, spec, _mapping(old, "spec"), old)


def _generated_selector(e: Causes, spec: Obj, meta: Obj) -> None:
    """validateGeneratedSelector: unless manualSelector, the template carries the job's uid and name."""
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return
    uid, name = _text(meta.get("uid")), _text(meta.get("name"))
    if not uid:
        e.required("metadata.uid")
    labels = _template_labels(_mapping(spec, "template"))
    for key, expected in ((LEGACY_CONTROLLER_UID_LABEL, uid), (LEGACY_JOB_NAME_LABEL, name),
                          (CONTROLLER_UID_LABEL, uid), (JOB_NAME_LABEL, name)):
        path = f"spec.template.metadata.labels[{key}]"
        if labels is None or key not in labels:
            e.required(path, f"must be '{expected}'")
        elif labels[key] != expected:
            e.invalid(path, labels, f"must be '{expected}'")
    selector = parse_selector(spec.get("selector"))
    expected_labels = {LEGACY_CONTROLLER_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: name, CONTROLLER_UID_LABEL: uid,
                       JOB_NAME_LABEL: name}
    if selector is not None and not selector.matches(expected_labels):
        e.invalid("spec.selector", spec.get("selector"), "`selector` not auto-generated")


def _job_spec(e: Causes, spec: Obj, path: str) -> None:
    """validateJobSpec: counts, completion mode, replacement policy and an OnFailure/Never template."""
    e.nonnegative_fields(spec, ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                               "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"), path)
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        e.required(_p(path, "backoffLimitPerIndex"), "when maxFailedIndexes is specified")
    _completion_mode(e, spec, path)
    _pod_replacement_policy(e, spec, path)
    template_path = _p(path, "template")
    _pod_template(e, e.mapping(spec, "template", path), template_path)
    restart = _text(_mapping(_mapping(spec, "template"), "spec").get("restartPolicy"))
    restart_path = _p(_p(template_path, "spec"), "restartPolicy")
    if restart in ("Always", ""):
        e.required(restart_path, 'valid values: "OnFailure", "Never"')
    elif restart not in ("OnFailure", "Never"):
        e.not_supported(restart_path, restart, ("OnFailure", "Never"))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        e.invalid(restart_path, restart, 'only "Never" is supported when podFailurePolicy is specified')


def _completion_mode(e: Causes, spec: Obj, path: str) -> None:
    mode = e.text(spec, "completionMode", path) if spec.get("completionMode") is not None else None
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        e.not_supported(_p(path, "completionMode"), mode, ("NonIndexed", "Indexed"))
    parallelism = _as_int(spec.get("parallelism"))
    if mode == "Indexed":
        if spec.get("completions") is None:
            e.required(_p(path, "completions"), "when completion mode is Indexed")
        if parallelism is not None and parallelism > 100000:
            e.invalid(_p(path, "parallelism"), parallelism,
                      "must be less than or equal to 100000 when completion mode is Indexed")
        return
    for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
        if spec.get(key) is not None:
            e.invalid(_p(path, key), spec.get(key), "requires indexed completion mode")
    if spec.get("successPolicy") is not None:
        e.invalid(_p(path, "successPolicy"), spec.get("successPolicy"), "requires indexed completion mode")


def _pod_replacement_policy(e: Causes, spec: Obj, path: str) -> None:
    if spec.get("podReplacementPolicy") is None:
        return
    policy = e.text(spec, "podReplacementPolicy", path)
    supported = ("Failed",) if spec.get("podFailurePolicy") is not None else ("Failed", "TerminatingOrFailed")
    if policy not in supported:
        e.not_supported(_p(path, "podReplacementPolicy"), policy, supported)


def _indexed_job_hostnames(e: Causes, spec: Obj, name: str) -> None:
    completions = _as_int(spec.get("completions"))
    if spec.get("completionMode") == "Indexed" and completions and completions > 0:
        hostname = f"{name}-{completions - 1}"
        if is_dns1123_label(hostname):
            e.invalid("metadata.name", name, f"will not able to create pod with invalid DNS label: {hostname}")


def _job_update(e: Causes, spec: Obj, old_spec: Obj, old: Obj) -> None:
    completions, before = spec.get("completions"), old_spec.get("completions")
    if spec.get("completionMode") == "Indexed" and completions is not None and completions != before:
        if completions != spec.get("parallelism"):
            e.invalid("spec.completions", completions, "can only be modified in tandem with spec.parallelism")
    else:
        _immutable(e, completions, before, "spec.completions")
    _immutable(e, spec.get("selector"), old_spec.get("selector"), "spec.selector")
    _immutable(e, spec.get("template"), _mutable_scheduling(spec, old_spec, old), "spec.template")
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
        _immutable(e, spec.get(key), old_spec.get(key), f"spec.{key}")


def _mutable_scheduling(spec: Obj, old_spec: Obj, old: Obj) -> Any:
    """A suspended job that never started may change its template's scheduling directives."""
    old_template = old_spec.get("template")
    started = _mapping(old, "status").get("startTime")
    if old_spec.get("suspend") is not True or started or not isinstance(old_template, dict):
        return old_template
    template = json.loads(json.dumps(old_template, default=str))
    new_template = _mapping(spec, "template")
    for key in ("annotations", "labels"):
        _set_or_pop(template.setdefault("metadata", {}), key, _mapping(new_template, "metadata").get(key))
    pod_spec, new_pod_spec = template.setdefault("spec", {}), _mapping(new_template, "spec")
    for key in ("nodeSelector", "tolerations", "schedulingGates"):
        _set_or_pop(pod_spec, key, new_pod_spec.get(key))
    node_affinity = _mapping(new_pod_spec, "affinity").get("nodeAffinity")
    affinity = pod_spec.setdefault("affinity", {}) if isinstance(pod_spec.get("affinity"), dict) else {}
    _set_or_pop(affinity, "nodeAffinity", node_affinity)
    _set_or_pop(pod_spec, "affinity", affinity or None)
    return template


def _validate_cron_job(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    old_spec = _mapping(old, "spec") if old is not None else None
    schedule = e.text(spec, "schedule", path)
    if not schedule:
        e.required("spec.schedule")
    else:
        _schedule(e, schedule, spec, old_spec)
    e.nonnegative("spec.startingDeadlineSeconds", e.integer(spec, "startingDeadlineSeconds", path))
    if old_spec is None or spec.get("timeZone") != old_spec.get("timeZone"):
        _time_zone(e, spec)
    _enum_required(e, e.text(spec, "concurrencyPolicy", path), "spec.concurrencyPolicy", ("Allow", "Forbid", "Replace"))
    _job_template(e, e.mapping(spec, "jobTemplate", path), "spec.jobTemplate")
    e.nonnegative_fields(spec, ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"), path)
    name = _text(_mapping(obj, "metadata").get("name"))
    if old is None and len(name) > 52:
        e.invalid("metadata.name", name, "must be no more than 52 characters")


def _schedule(e: Causes, schedule: str, spec: Obj, old_spec: Obj | None) -> None:
    error = cron_error(schedule)
    if error is not None:
        e.invalid("spec.schedule", schedule, error)
    tz_allowed = old_spec is not None and "TZ" in _text(old_spec.get("schedule"))
    if tz_allowed and "TZ" in schedule and spec.get("timeZone") is not None:
        e.invalid("spec.schedule", schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule")
    elif not tz_allowed and "TZ" in schedule:
        e.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")


_TIME_ZONE_PART = re.compile("[A-Za-z.\\-_0-9+]{1,14}")


def _time_zone(e: Causes, spec: Obj) -> None:
    if spec.get("timeZone") is None:
        return
    zone, path = e.text(spec, "timeZone", "spec"), "spec.timeZone"
    if not zone:
        e.invalid(path, zone, "timeZone must be nil or non-empty string")
        return
    parts = zone.split("/")
    if any(part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.fullmatch(part) for part in parts):
        e.invalid(path, zone, f"unknown time zone {zone}")
    elif zone.lower() == "local":
        e.invalid(path, zone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")
    elif _known_zone(zone) is False:
        e.invalid(path, zone, f"unknown time zone {zone}")


def _job_template(e: Causes, template: Obj, path: str) -> None:
    spec_path = _p(path, "spec")
    spec = e.mapping(template, "spec", path)
    _job_spec(e, spec, spec_path)
    if spec.get("selector") is not None:
        e.invalid(_p(spec_path, "selector"), spec.get("selector"), "`selector` will be auto-generated")
    if spec.get("manualSelector") is True:
        e.not_supported(_p(spec_path, "manualSelector"), True, ("nil", "false"))


# --------------------------------------------------------------------------------------------------
# autoscaling/v2 and coordination.k8s.io/v1
# --------------------------------------------------------------------------------------------------

_METRIC_SOURCES = {"ContainerResource": "containerResource", "External": "external", "Object": "object",
                   "Pods": "pods", "Resource": "resource"}


def _validate_hpa(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    min_replicas, max_replicas = e.integer(spec, "minReplicas", path), e.integer(spec, "maxReplicas", path) or 0
    if min_replicas is not None and min_replicas < 1:
        e.invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1")
    if max_replicas < 1:
        e.invalid("spec.maxReplicas", max_replicas, "must be greater than 0")
    if min_replicas is not None and max_replicas < min_replicas:
        e.invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`")
    _cross_version_reference(e, e.mapping(spec, "scaleTargetRef", path), "spec.scaleTargetRef")
    for _, item_path, metric in e.objects(spec, "metrics", path):
        _metric_spec(e, metric, item_path)
    behavior = e.mapping(spec, "behavior", path)
    for direction in ("scaleUp", "scaleDown"):
        if behavior.get(direction) is not None:
            _scaling_rules(e, e.mapping(behavior, direction, "spec.behavior"), f"spec.behavior.{direction}")


def _cross_version_reference(e: Causes, ref: Obj, path: str) -> None:
    for key in ("kind", "name"):
        value = e.text(ref, key, path)
        if not value:
            e.required(_p(path, key))
        for msg in is_valid_path_segment_name(value) if value else ():
            e.invalid(_p(path, key), value, msg)


def _metric_spec(e: Causes, metric: Obj, path: str) -> None:
    kind = e.text(metric, "type", path)
    if not kind:
        e.required(_p(path, "type"), "must specify a metric source type")
    if kind not in _METRIC_SOURCES:
        e.not_supported(_p(path, "type"), kind, sorted(_METRIC_SOURCES))
    present = [field for field in ("object", "external", "pods", "resource", "containerResource")
               if metric.get(field) is not None]
    if present:
        _metric_source(e, present[0], e.mapping(metric, present[0], path), _p(path, present[0]))
    expected = _METRIC_SOURCES.get(kind)
    if expected is not None and metric.get(expected) is None:
        e.required(_p(path, expected), "must populate information for the given metric source")
    for extra in (f for f in present if f != expected) if len(present) > 1 else ():
        e.forbidden(_p(path, extra), "must populate the given metric source only")


def _metric_source(e: Causes, field: str, source: Obj, path: str) -> None:
    target, target_path = e.mapping(source, "target", path), _p(path, "target")
    if field in ("object", "external", "pods"):
        _metric_identifier(e, e.mapping(source, "metric", path), _p(path, "metric"))
    if field == "object":
        _cross_version_reference(e, e.mapping(source, "describedObject", path), _p(path, "describedObject"))
    if field in ("resource", "containerResource") and not e.text(source, "name", path):
        e.required(_p(path, "name"), "must specify a resource name")
    if field == "containerResource" and not e.text(source, "container", path):
        e.required(_p(path, "container"), "must specify a container")
    _metric_target(e, target, target_path)
    has = {key: target.get(key) is not None for key in ("value", "averageValue", "averageUtilization")}
    if field == "object" and not has["value"] and not has["averageValue"]:
        e.required(_p(target_path, "averageValue"), "must set either a target value or averageValue")
    if field == "external" and not has["value"] and not has["averageValue"]:
        e.required(_p(target_path, "averageValue"), "must set either a target value for metric or a per-pod target")
    if field == "external" and has["value"] and has["averageValue"]:
        e.forbidden(_p(target_path, "value"), "may not set both a target value for metric and a per-pod target")
    if field == "pods" and not has["averageValue"]:
        e.required(_p(target_path, "averageValue"), "must specify a positive target averageValue")
    if field in ("resource", "containerResource"):
        if not has["averageUtilization"] and not has["averageValue"]:
            e.required(_p(target_path, "averageUtilization"), "must set either a target raw value or a target "
                       "utilization")
        if has["averageUtilization"] and has["averageValue"]:
            e.forbidden(_p(target_path, "averageValue"), "may not set both a target raw value and a target "
                        "utilization")


def _metric_identifier(e: Causes, metric: Obj, path: str) -> None:
    name = e.text(metric, "name", path)
    if not name:
        e.required(_p(path, "name"), "must specify a metric name")
    for msg in is_valid_path_segment_name(name) if name else ():
        e.invalid(_p(path, "name"), name, msg)
    _label_selector(e, metric.get("selector"), _p(path, "selector"))


def _metric_target(e: Causes, target: Obj, path: str) -> None:
    kind = e.text(target, "type", path)
    if not kind:
        e.required(_p(path, "type"), "must specify a metric target type")
    if kind not in ("Utilization", "Value", "AverageValue"):
        e.invalid(_p(path, "type"), kind, "must be either Utilization, Value, or AverageValue")
    for key in ("value", "averageValue"):
        raw = target.get(key)
        if raw is None:
            continue
        try:
            positive = parse_quantity(raw) > 0
        except ValueError as exc:
            e.invalid(_p(path, key), raw, str(exc))
            continue
        if not positive:
            e.invalid(_p(path, key), Raw(canonical_quantity(raw)), "must be positive")
    utilization = e.integer(target, "averageUtilization", path)
    if utilization is not None and utilization < 1:
        e.invalid(_p(path, "averageUtilization"), utilization, "must be greater than 0")


def _scaling_rules(e: Causes, rules: Obj, path: str) -> None:
    window = e.integer(rules, "stabilizationWindowSeconds", path)
    if window is not None and window < 0:
        e.invalid(_p(path, "stabilizationWindowSeconds"), window, "must be greater than or equal to zero")
    if window is not None and window > 3600:
        e.invalid(_p(path, "stabilizationWindowSeconds"), window, "must be less than or equal to 3600")
    if rules.get("selectPolicy") is not None and rules.get("selectPolicy") not in ("Disabled", "Max", "Min"):
        e.not_supported(_p(path, "selectPolicy"), rules.get("selectPolicy"), ("Disabled", "Max", "Min"))
    policies = list(e.objects(rules, "policies", path))
    if not policies:
        e.required(_p(path, "policies"), "must specify at least one Policy")
    for _, item_path, policy in policies:
        if policy.get("type") not in ("Percent", "Pods"):
            e.not_supported(_p(item_path, "type"), policy.get("type") or "", ("Percent", "Pods"))
        value, period = e.integer(policy, "value", item_path) or 0, e.integer(policy, "periodSeconds", item_path) or 0
        if value <= 0:
            e.invalid(_p(item_path, "value"), value, "must be greater than zero")
        if period <= 0:
            e.invalid(_p(item_path, "periodSeconds"), period, "must be greater than zero")
        if period > 1800:
            e.invalid(_p(item_path, "periodSeconds"), period, "must be less than or equal to 1800")


def _validate_lease(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    e.text(spec, "holderIdentity", path)
    duration = e.integer(spec, "leaseDurationSeconds", path)
    if duration is not None and duration <= 0:
        e.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
    transitions = e.integer(spec, "leaseTransitions", path)
    if transitions is not None and transitions < 0:
        e.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
    if spec.get("preferredHolder") and not spec.get("strategy"):
        e.forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined")


# --------------------------------------------------------------------------------------------------
# core/v1: Service and Endpoints
# --------------------------------------------------------------------------------------------------

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
NODE_PORT_RANGE = (30000, 32767)  # the apiserver's --service-node-port-range (app.py sets it)


def _validate_service(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec, path = e.mapping(obj, "spec", ""), "spec"
    kind = e.text(spec, "type", path)
    cluster_ips = e.strings(spec, "clusterIPs", path)
    headless = cluster_ips == ["None"]
    ports = list(e.objects(spec, "ports", path))
    if not spec.get("ports") and not headless and kind != "ExternalName":
        e.required("spec.ports")
    _service_type_fields(e, spec, kind, cluster_ips, headless)
    names: set[str] = set()
    for _, item_path, port in ports:
        _service_port(e, port, item_path, len(spec.get("ports") or []) > 1, names)
    if spec.get("selector") is not None:
        _labels(e, e.string_map(spec, "selector", path), "spec.selector")
    _session_affinity(e, spec)
    _cluster_ips(e, spec, kind, cluster_ips, headless)
    for i, ip in enumerate(e.strings(spec, "externalIPs", path)):
        if not _ip_field(e, ip, f"spec.externalIPs[{i}]"):
            _non_special_ip(e, ip, f"spec.externalIPs[{i}]")
    _enum_required(e, kind, "spec.type", SERVICE_TYPES)
    _service_node_ports(e, ports, kind)
    _load_balancer_fields(e, obj, spec, kind)
    _traffic_policies(e, spec, kind)
    if old is not None:
        _service_update(e, spec, _mapping(old, "spec"))


def _service_type_fields(e: Causes, spec: Obj, kind: str, cluster_ips: list[str], headless: bool) -> None:
    if kind in ("LoadBalancer", "NodePort") and headless:
        e.invalid("spec.clusterIPs[0]", cluster_ips[0], f"may not be set to 'None' for {kind} services")
    if kind != "ExternalName":
        return
    for key in ("clusterIPs", "ipFamilies"):
        if spec.get(key):
            e.forbidden(f"spec.{key}", "may not be set for ExternalName services")
    if spec.get("ipFamilyPolicy") is not None:
        e.forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services")
    cname = e.text(spec, "externalName", "spec").removesuffix(".")
    if not cname:
        e.required("spec.externalName")
    for msg in is_dns1123_subdomain(cname) if cname else ():
        e.invalid("spec.externalName", cname, msg)


def _service_port(e: Causes, port: Obj, path: str, name_required: bool, names: set[str]) -> None:
    name = e.text(port, "name", path)
    if name_required and not name:
        e.required(_p(path, "name"))
    elif name:
        for msg in _dns1123_label_errors(name):
            e.invalid(_p(path, "name"), name, msg)
        if name in names:
            e.duplicate(_p(path, "name"), name)
        names.add(name)
    number = e.integer(port, "port", path) or 0
    for msg in is_valid_port_num(number):
        e.invalid(_p(path, "port"), number, msg)
    _protocol(e, port, path)
    _port_field(e, port, "targetPort", path)
    if port.get("appProtocol") is not None:
        _label_name(e, e.text(port, "appProtocol", path), _p(path, "appProtocol"))


def _session_affinity(e: Causes, spec: Obj) -> None:
    affinity = e.text(spec, "sessionAffinity", "spec")
    _enum_required(e, affinity, "spec.sessionAffinity", ("ClientIP", "None"))
    config, path = spec.get("sessionAffinityConfig"), "spec.sessionAffinityConfig"
    if affinity == "None" and config is not None:
        e.forbidden(path, "must not be set when session affinity is None")
    if affinity != "ClientIP":
        return
    client_ip = _mapping(config, "clientIP")
    timeout = _as_int(client_ip.get("timeoutSeconds"))
    if not isinstance(config, dict):
        e.required(path, "when session affinity type is ClientIP")
    elif not isinstance(config.get("clientIP"), dict):
        e.required(_p(path, "clientIP"), "when session affinity type is ClientIP")
    elif timeout is None:
        e.required(_p(_p(path, "clientIP"), "timeoutSeconds"), "when session affinity type is ClientIP")
    elif not 0 < timeout <= 86400:
        e.invalid(_p(_p(path, "clientIP"), "timeoutSeconds"), timeout, "must be greater than 0 and less than 86400")


def _ip_field(e: Causes, value: str, path: str) -> bool:
    """IsValidIP; True when the value was bad."""
    if parse_ip(value) is None:
        e.invalid(path, value, IP_FORMAT_ERROR)
        return True
    return False


def _non_special_ip(e: Causes, value: str, path: str) -> None:
    ip = parse_ip(value)
    if ip is None:
        e.invalid(path, value, "must be a valid IP address")
        return
    if ip.is_unspecified:
        e.invalid(path, value, f"may not be unspecified ({value})")
    if ip.is_loopback:
        e.invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")
    if ip.is_link_local:
        e.invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    if _is_link_local_multicast(ip):
        e.invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")


def _cluster_ips(e: Causes, spec: Obj, kind: str, cluster_ips: list[str], headless: bool) -> None:
    """ValidateServiceClusterIPsRelatedFields."""
    if kind == "ExternalName":
        return
    cluster_ip, path = e.text(spec, "clusterIP", "spec"), "spec.clusterIPs"
    if cluster_ip and not cluster_ips:
        e.required(path)
    elif cluster_ip and cluster_ips[0] != cluster_ip:
        e.invalid(path, cluster_ips, "first value must match `clusterIP`")
    elif not cluster_ip and cluster_ips:
        e.invalid(path, cluster_ips, "must be empty when `clusterIP` is not specified")
    families = e.strings(spec, "ipFamilies", "spec")
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            e.not_supported(f"spec.ipFamilies[{i}]", family, ("IPv4", "IPv6"))
        if family in families[:i]:
            e.duplicate(f"spec.ipFamilies[{i}]", family)
    if spec.get("ipFamilyPolicy") is not None:
        policy = e.text(spec, "ipFamilyPolicy", "spec")
        supported = ("PreferDualStack", "RequireDualStack", "SingleStack")
        if policy not in supported:
            e.not_supported("spec.ipFamilyPolicy", policy, supported)
    if _cluster_ip_values(e, cluster_ips):
        return
    parsed = [parse_ip(ip) for ip in cluster_ips]
    if len(parsed) > 1 and len({ip.version for ip in parsed if ip is not None}) != len(parsed):
        e.invalid(path, cluster_ips, "may specify no more than one IP for each IP family")
    for i, (ip, family) in enumerate(zip(parsed, families) if not headless else ()):
        if ip is not None and family == "IPv4" and ip.version == 6:
            e.invalid(f"{path}[{i}]", cluster_ips[i], f"expected an IPv4 value as indicated by `ipFamilies[{i}]`")
        if ip is not None and family == "IPv6" and ip.version == 4:
            e.invalid(f"{path}[{i}]", cluster_ips[i], f"expected an IPv6 value as indicated by `ipFamilies[{i}]`")


def _cluster_ip_values(e: Causes, cluster_ips: list[str]) -> bool:
    """Each clusterIP is an IP ('None' only alone and first); True when any is bad."""
    bad = False
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                bad = True
                e.invalid("spec.clusterIPs", cluster_ips, "'None' must be the first and only value")
            continue
        bad = _ip_field(e, ip, f"spec.clusterIPs[{i}]") or bad
    if len(cluster_ips) > 2:
        e.invalid("spec.clusterIPs", cluster_ips, "may only hold up to 2 values")
    return bad


def _service_node_ports(e: Causes, ports: list[tuple[int, str, Obj]], kind: str) -> None:
    node_ports: set[tuple[str, int]] = set()
    seen_ports: set[tuple[str, int]] = set()
    low, high = NODE_PORT_RANGE
    for _, item_path, port in ports:
        node_port, protocol = _as_int(port.get("nodePort")) or 0, _text(port.get("protocol"))
        if kind in ("ClusterIP", "ExternalName") and node_port:
            e.forbidden(_p(item_path, "nodePort"), f"may not be used when `type` is '{kind}'")
        elif node_port and not low <= node_port <= high:  # upstream's allocator says it, in the same words
            e.invalid(_p(item_path, "nodePort"), node_port, "provided port is not in the valid range. "
                      f"The range of valid ports is {low}-{high}")
        if node_port and (protocol, node_port) in node_ports:
            e.duplicate(_p(item_path, "nodePort"), node_port)
        node_ports.add((protocol, node_port))
        key = (protocol, _as_int(port.get("port")) or 0)
        if key in seen_ports:
            e.duplicate(item_path, Raw(f'core.ServicePort{{Name:"", Protocol:"{key[0]}", AppProtocol:(*string)(nil), '
                                       f'Port:{key[1]}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, '
                                       f'StrVal:""}}, NodePort:0}}'))
        seen_ports.add(key)


def _load_balancer_fields(e: Causes, obj: Obj, spec: Obj, kind: str) -> None:
    ranges = e.strings(spec, "loadBalancerSourceRanges", "spec")
    annotation = _mapping(_mapping(obj, "metadata"), "annotations").get("service.beta.kubernetes.io/"
                                                                        "load-balancer-source-ranges")
    if ranges:
        if kind != "LoadBalancer":
            e.forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")
        for i, value in enumerate(ranges):
            if parse_cidr(value.strip()) is None:
                e.invalid(f"spec.LoadBalancerSourceRanges[{i}]", value.strip(), CIDR_FORMAT_ERROR)
    elif isinstance(annotation, str):
        path = "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]"
        if kind != "LoadBalancer":
            e.forbidden(path, "may only be used when `type` is 'LoadBalancer'")
        for value in (v.strip() for v in annotation.strip().split(",") if annotation.strip()):
            if parse_cidr(value) is None:
                e.invalid(path, value, CIDR_FORMAT_ERROR)
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        e.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        e.required("allocateLoadBalancerNodePorts")  # sic: upstream's path has no "spec."


def externally_accessible(spec: Obj) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or kind == "ClusterIP" and bool(spec.get("externalIPs"))


def _traffic_policies(e: Causes, spec: Obj, kind: str) -> None:
    external = e.text(spec, "externalTrafficPolicy", "spec")
    if not externally_accessible(spec) and external:
        e.invalid("spec.externalTrafficPolicy", external, "may only be set for externally-accessible services")
    elif externally_accessible(spec):
        _enum_required(e, external, "spec.externalTrafficPolicy", ("Cluster", "Local"))
    health_port = e.integer(spec, "healthCheckNodePort", "spec") or 0
    if not (kind == "LoadBalancer" and external == "Local") and health_port:
        e.invalid("spec.healthCheckNodePort", health_port,
                  "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")
    elif health_port:  # when unset for LoadBalancer/Local, the allocator gives it one
        for msg in is_valid_port_num(health_port):
            e.invalid("spec.healthCheckNodePort", health_port, msg)
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        e.required("spec.internalTrafficPolicy")
    elif internal is not None and internal not in ("Cluster", "Local"):
        e.not_supported("spec.internalTrafficPolicy", internal, ("Cluster", "Local"))
    distribution = spec.get("trafficDistribution")
    if distribution is not None and distribution != "PreferClose":
        e.not_supported("spec.trafficDistribution", distribution, ("PreferClose",))


def _service_update(e: Causes, spec: Obj, old: Obj) -> None:
    """Cluster IPs and IP families may be added or released (dual-stack), never changed."""
    if "ExternalName" in (spec.get("type"), old.get("type")):
        return
    new_ips, old_ips = _strings(spec.get("clusterIPs")), _strings(old.get("clusterIPs"))
    new_headless, old_headless = new_ips == ["None"], old_ips == ["None"]
    if not (new_headless and old_headless):
        _cluster_ips_update(e, new_ips, old_ips, spec.get("ipFamilyPolicy"))
    if new_headless == old_headless and not new_headless:
        _ip_families_update(e, _strings(spec.get("ipFamilies")), _strings(old.get("ipFamilies")), new_ips,
                            spec.get("ipFamilyPolicy"))
    if old.get("type") == spec.get("type") == "LoadBalancer" and \
            old.get("externalTrafficPolicy") == spec.get("externalTrafficPolicy") == "Local" and \
            spec.get("healthCheckNodePort") != old.get("healthCheckNodePort"):
        e.forbidden("spec.healthCheckNodePort", "field is immutable")


def _cluster_ips_update(e: Causes, new: list[str], old: list[str], policy: Any) -> None:
    if len(new) == len(old):
        for i, ip in enumerate(old):
            if ip != new[i]:
                e.invalid(f"spec.clusterIPs[{i}]", new, "may not change once set")
        return
    if len(new) < len(old) and not new:
        e.invalid("spec.clusterIPs[0]", new, "primary clusterIP can not be unset")
    if new and old and new[0] != old[0]:
        e.invalid("spec.clusterIPs[0]", new, "may not change once set")
    if len(new) < len(old) and len(new) == 1 and policy != "SingleStack":
        e.invalid("spec.ipFamilyPolicy", policy, "must be set to 'SingleStack' when releasing the secondary clusterIP")


def _ip_families_update(e: Causes, new: list[str], old: list[str], cluster_ips: list[str], policy: Any) -> None:
    if len(new) == len(old):
        for i, family in enumerate(old):
            if family != new[i]:
                e.invalid("spec.ipFamilies[0]", new, "may not change once set")
        return
    if len(new) < len(old) and not cluster_ips:
        e.invalid("spec.ipFamilies[0]", new, "primary ipFamily can not be unset")
    if new and old and new[0] != old[0]:
        e.invalid("spec.ipFamilies[0]", cluster_ips, "may not change once set")
    if len(new) < len(old) and len(new) == 1 and policy != "SingleStack":
        e.invalid("spec.ipFamilyPolicy", policy, "must be set to 'SingleStack' when releasing the secondary ipFamily")


def _validate_endpoints(e: Causes, obj: Obj, old: Obj | None) -> None:
    for _, subset_path, subset in e.objects(obj, "subsets", ""):
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            e.required(subset_path, "must specify `addresses` or `notReadyAddresses`")
        for key in ("addresses", "notReadyAddresses"):
            for _, address_path, address in e.objects(subset, key, subset_path):
                _endpoint_address(e, address, address_path)
        ports = list(e.objects(subset, "ports", subset_path))
        for _, port_path, port in ports:
            _endpoint_port(e, port, port_path, len(ports) > 1)


def _endpoint_address(e: Causes, address: Obj, path: str) -> None:
    ip = e.text(address, "ip", path)
    _ip_field(e, ip, _p(path, "ip"))
    hostname = e.text(address, "hostname", path)
    for msg in _dns1123_label_errors(hostname) if hostname else ():
        e.invalid(_p(path, "hostname"), hostname, msg)
    if address.get("nodeName") is not None:
        node_name = e.text(address, "nodeName", path)
        for msg in is_dns1123_subdomain(node_name):
            e.invalid(_p(path, "nodeName"), node_name, msg)
    _non_special_ip(e, ip, _p(path, "ip"))


def _endpoint_port(e: Causes, port: Obj, path: str, name_required: bool) -> None:
    name = e.text(port, "name", path)
    if name_required and not name:
        e.required(_p(path, "name"))
    for msg in _dns1123_label_errors(name) if name else ():
        e.invalid(_p(path, "name"), name, msg)
    number = e.integer(port, "port", path) or 0
    for msg in is_valid_port_num(number):
        e.invalid(_p(path, "port"), number, msg)
    _protocol(e, port, path)
    if port.get("appProtocol") is not None:
        _label_name(e, e.text(port, "appProtocol", path), _p(path, "appProtocol"))


# --------------------------------------------------------------------------------------------------
# core/v1: ConfigMap, Secret, Namespace, Node, Event
# --------------------------------------------------------------------------------------------------

SECRET_REQUIRED_KEYS = {"kubernetes.io/tls": ("tls.crt", "tls.key"), "kubernetes.io/ssh-auth": ("ssh-privatekey",),
                        "kubernetes.io/dockercfg": (".dockercfg",),
                        "kubernetes.io/dockerconfigjson": (".dockerconfigjson",)}


def _validate_config_map(e: Causes, obj: Obj, old: Obj | None) -> None:
    data = e.string_map(obj, "data", "") or {}
    binary = e.string_map(obj, "binaryData", "") or {}
    total = 0
    for key, value in data.items():
        for msg in _config_map_key_errors(key):
            e.invalid(f"data[{key}]", key, msg)
        if key in binary:
            e.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
        total += _byte_len(value)
    for key, value in binary.items():
        for msg in _config_map_key_errors(key):
            e.invalid(f"binaryData[{key}]", key, msg)
        decoded = _base64_field(e, value, f"binaryData[{key}]")
        total += len(decoded) if decoded is not None else 0
    if total > MAX_SECRET_SIZE:
        e.too_long("", MAX_SECRET_SIZE)
    if old is not None:
        _immutable_data(e, obj, old, ("data", "binaryData"))


def _immutable_data(e: Causes, obj: Obj, old: Obj, keys: Sequence[str]) -> None:
    if old.get("immutable") is not True:
        return
    if obj.get("immutable") is not True:
        e.forbidden("immutable", "field is immutable when `immutable` is set")
    for key in keys:
        if semantic(obj.get(key)) != semantic(old.get(key)):
            e.forbidden(key, "field is immutable when `immutable` is set")


def _base64_field(e: Causes, value: str, path: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        e.invalid(path, "<secret contents redacted>", f"illegal base64 data at input byte {_base64_offset(value)}")
        return None


def _base64_offset(value: str) -> int:
    """Where Go's base64 decoder gives up: the first foreign character, else the unfinished quantum."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for i, ch in enumerate(value):
        if ch not in alphabet and ch not in "=\r\n":
            return i
    padding = value.find("=")
    if 0 <= padding and value.rstrip("=") != value[:padding]:
        return padding
    return len(value) - len(value) % 4


def _validate_secret(e: Causes, obj: Obj, old: Obj | None) -> None:
    data = e.string_map(obj, "data", "") or {}
    string_data = e.string_map(obj, "stringData", "") or {}
    total, present = 0, set(data) | set(string_data)
    for key, value in data.items():
        for msg in _config_map_key_errors(key):
            e.invalid(f"data[{key}]", key, msg)
        decoded = _base64_field(e, value, f"data[{key}]")
        total += len(decoded) if decoded is not None and key not in string_data else 0
    for key, value in string_data.items():
        for msg in _config_map_key_errors(key):
            e.invalid(f"data[{key}]", key, msg)
        total += _byte_len(value)
    if total > MAX_SECRET_SIZE:
        e.too_long("data", MAX_SECRET_SIZE)
    _secret_type(e, obj, e.text(obj, "type", ""), present, {**data, **{k: "" for k in string_data}}, string_data)
    if old is not None:
        _immutable(e, obj.get("type") or "", old.get("type") or "", "type")
        _immutable_data(e, obj, old, ("data",))


def _secret_type(e: Causes, obj: Obj, kind: str, present: set[str], data: dict[str, str],
                 string_data: dict[str, str]) -> None:
    if kind == "kubernetes.io/service-account-token":
        annotations = _mapping(_mapping(obj, "metadata"), "annotations")
        if not annotations.get("kubernetes.io/service-account.name"):
            e.required("metadata.annotations[kubernetes.io/service-account.name]")
    elif kind == "kubernetes.io/basic-auth" and not present & {"username", "password"}:
        e.required("data[username]")
        e.required("data[password]")
    elif kind in SECRET_REQUIRED_KEYS:
        for key in SECRET_REQUIRED_KEYS[kind]:
            if key not in present:
                e.required(f"data[{key}]")
        if kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            key = SECRET_REQUIRED_KEYS[kind][0]
            if key in present:
                _docker_config(e, _secret_text(data.get(key), string_data.get(key)), f"data[{key}]")


def _secret_text(encoded: str | None, plain: str | None) -> str | None:
    if plain is not None:
        return plain
    try:
        return base64.b64decode(encoded or "", validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None  # already reported as bad base64


def _docker_config(e: Causes, text: str | None, path: str) -> None:
    if text is None:
        return
    error = json_object_error(text)
    if error:
        e.invalid(path, "<secret contents redacted>", error)


def json_object_error(text: str) -> str | None:
    """What Go's json.Unmarshal into a map says about `text`, or None when it is a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or not text.strip():
            return "unexpected end of JSON input"
        context = {"Expecting value": "looking for beginning of value",
                   "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
                   "Expecting ':' delimiter": "after object key",
                   "Extra data": "after top-level value"}.get(exc.msg, "after object key:value pair")
        return f"invalid character {text[exc.pos]!r} {context}"
    except ValueError:
        return "unexpected end of JSON input"
    if not isinstance(value, dict):
        return f"json: cannot unmarshal {_json_type(value).replace('integer', 'number')} into Go value of type " \
               "map[string]interface {}"
    return None


def _validate_namespace(e: Causes, obj: Obj, old: Obj | None) -> None:
    for name in e.strings(e.mapping(obj, "spec", ""), "finalizers", "spec"):
        for msg in _qualified_name_errors(name):
            e.invalid("spec.finalizers", name, msg)
        _kube_finalizer_name(e, name, "spec.finalizers")


def _validate_node(e: Causes, obj: Obj, old: Obj | None) -> None:
    spec = e.mapping(obj, "spec", "")
    _taints(e, spec)
    status = e.mapping(obj, "status", "")
    for key in ("capacity", "allocatable"):
        for name, raw in e.mapping(status, key, "status").items():
            _node_resource(e, name, raw, f"status.{key}.{name}")
    cidrs = _pod_cidrs(e, spec)
    for i, cidr in enumerate(cidrs):
        if parse_cidr(cidr) is None:
            e.invalid(f"spec.podCIDRs[{i}]", cidr, CIDR_FORMAT_ERROR)
    parsed = [parse_cidr(cidr) for cidr in cidrs]
    if len(cidrs) > 1 and None not in parsed:
        if len(cidrs) > 2 or len({net.version for net in parsed if net is not None}) != len(cidrs):
            e.invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family")
        for i, cidr in enumerate(cidrs):
            if cidr in cidrs[:i]:
                e.duplicate(f"spec.podCIDRs[{i}]", cidr)
    if old is not None:
        _node_update(e, spec, _mapping(old, "spec"))


def _pod_cidrs(e: Causes, spec: Obj) -> list[str]:
    """spec.podCIDRs, or the lone legacy spec.podCIDR (v1 conversion folds it into podCIDRs)."""
    cidrs = e.strings(spec, "podCIDRs", "spec")
    single = e.text(spec, "podCIDR", "spec")
    return cidrs or ([single] if single else [])


def _node_resource(e: Causes, name: str, raw: Any, path: str) -> None:
    try:
        amount = parse_quantity(raw)
    except ValueError as exc:
        e.invalid(path, raw, str(exc))
        return
    if amount < 0:
        e.invalid(path, canonical_quantity(raw), "must be greater than or equal to 0")
    if _integer_resource(name) and amount != amount.to_integral_value():
        e.invalid(path, Raw(canonical_quantity(raw)), "must be an integer")


def _taints(e: Causes, spec: Obj) -> None:
    """Upstream reports node taints under metadata.taints (sic)."""
    seen: set[tuple[str, str]] = set()
    for i, _, taint in e.objects(spec, "taints", "spec"):
        path = f"metadata.taints[{i}]"
        key, value, effect = e.text(taint, "key", path), e.text(taint, "value", path), e.text(taint, "effect", path)
        _label_name(e, key, _p(path, "key"))
        errors = _label_value_errors(value)
        if errors:
            e.invalid(_p(path, "value"), value, ";".join(errors))
        _enum_required(e, effect, _p(path, "effect"), _TAINT_EFFECTS)
        if (key, effect) in seen:
            e.duplicate(path, taint, "taints must be unique by key and effect pair")
            continue
        seen.add((key, effect))


def _node_update(e: Causes, spec: Obj, old: Obj) -> None:
    old_cidrs = _strings(old.get("podCIDRs")) or ([old["podCIDR"]] if isinstance(old.get("podCIDR"), str) and
                                                    old["podCIDR"] else [])
    new_cidrs = _strings(spec.get("podCIDRs")) or ([spec["podCIDR"]] if isinstance(spec.get("podCIDR"), str) and
                                                     spec["podCIDR"] else [])
    if old_cidrs and old_cidrs != new_cidrs:
        e.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid')
    old_provider = _text(old.get("providerID"))
    if old_provider and old_provider != _text(spec.get("providerID")):
        e.forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid')
    if (spec.get("externalID") or "") != (old.get("externalID") or ""):
        e.forbidden("spec.externalID", "may not be updated")


def _event_meta(e: Causes, obj: Obj) -> None:
    """core/v1 Events skip ObjectMeta validation upstream; only a usable name is required."""
    meta = e.mapping(obj, "metadata", "")
    name = e.text(meta, "name", "metadata")
    if not name:
        e.required("metadata.name", "name or generateName is required")
    for msg in is_valid_path_segment_name(name) if name else ():
        e.invalid("metadata.name", name, msg)


def _validate_event(e: Causes, obj: Obj, old: Obj | None) -> None:
    """legacyValidateEvent: the rules core/v1 applies to Events."""
    namespace = e.text(e.mapping(obj, "metadata", ""), "namespace", "metadata")
    involved = e.mapping(obj, "involvedObject", "")
    involved_namespace = e.text(involved, "namespace", "involvedObject")
    mismatch = "does not match event.namespace"
    if not obj.get("eventTime"):
        if involved_namespace and namespace != involved_namespace or \
                not involved_namespace and namespace not in ("", "default"):
            e.invalid("involvedObject.namespace", involved_namespace, mismatch)
    else:
        if not involved_namespace and namespace not in ("default", "kube-system"):
            e.invalid("involvedObject.namespace", involved_namespace, mismatch)
        _reporting_fields(e, obj)
    for msg in is_dns1123_subdomain(namespace):
        e.invalid("namespace", namespace, msg)


def _reporting_fields(e: Causes, obj: Obj) -> None:
    controller = e.text(obj, "reportingComponent", "")
    if not controller:
        e.required("reportingController")
    for msg in is_qualified_name(controller):
        e.invalid("reportingController", controller, msg)
    for key, path, limit in (("reportingInstance", "reportingInstance", 128), ("action", "action", 128),
                             ("reason", "reason", 128), ("message", "message", 1024)):
        value = e.text(obj, key, "")
        if not value and key != "message":
            e.required(path)
        if len(value) > limit:
            e.invalid(path, "", f"can have at most {limit} characters")


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------

KindCheck = Callable[[Causes, Obj, "Obj | None"], None]


class KindTable(dict[ResourceType, T]):
    """A dict keyed by ResourceType, filled once at import, whose `find(rt)` is `get(rt, default)` remembered per
    ResourceType object: the registry's kinds are then found by identity, as hashing or comparing a ResourceType
    (a frozen dataclass of eleven fields) costs ~0.3 µs, a noticeable part of validating a small object."""

    def __init__(self, entries: dict[ResourceType, T], default: T) -> None:
        super().__init__(entries)
        self.default = default
        self._seen: dict[int, tuple[ResourceType, T]] = {}

    def find(self, rt: ResourceType) -> T:
        seen = self._seen.get(id(rt))
        if seen is None or seen[0] is not rt:  # keeping rt in the entry keeps its id from being reused
            seen = self._seen[id(rt)] = (rt, self.get(rt, self.default))
        return seen[1]


_NAME_CHECKS: KindTable[NameCheck] = KindTable({
    kinds.NAMESPACES: name_is_dns_label, kinds.SERVICES: name_is_dns1035_label,
    kinds.STATEFULSETS: name_is_dns_label,
}, default=name_is_dns_subdomain)
_KIND_CHECKS: KindTable[KindCheck | None] = KindTable({
    kinds.PODS: _validate_pod, kinds.SERVICES: _validate_service, kinds.ENDPOINTS: _validate_endpoints,
    kinds.CONFIGMAPS: _validate_config_map, kinds.SECRETS: _validate_secret, kinds.NAMESPACES: _validate_namespace,
    kinds.NODES: _validate_node, kinds.EVENTS: _validate_event, kinds.DEPLOYMENTS: _validate_deployment,
    kinds.REPLICATION_CONTROLLERS: _validate_replication_controller,
    kinds.REPLICASETS: _validate_replica_set, kinds.DAEMONSETS: _validate_daemon_set,
    kinds.STATEFULSETS: _validate_stateful_set, kinds.JOBS: _validate_job, kinds.CRONJOBS: _validate_cron_job,
    kinds.HORIZONTAL_POD_AUTOSCALERS: _validate_hpa, kinds.LEASES: _validate_lease,
}, default=None)
_IS_EVENT: KindTable[bool] = KindTable({kinds.EVENTS: True}, default=False)


def validate(rt: ResourceType, obj: Any, old: Any = None) -> list[Cause]:
    """The causes of a 422 for `obj` (and, on update, for changing `old` into it); [] when valid."""
    e = Causes()
    try:
        if not isinstance(obj, dict):
            e.invalid("", Raw(_json_type(obj)), "must be a JSON object")
        else:
            _validate(e, rt, obj, old if isinstance(old, dict) else None)
    except Exception as exc:  # a bug here must cost one request, never the apiserver
        e.causes.append(field_cause("", f"Internal error: validation failed: {exc!r}", "InternalError"))
    return _unique(e.causes)


def validate_binding(binding: Obj) -> list[Cause]:
    """Upstream's ValidatePodBinding, plus the labels and annotations a binding adds to its pod."""
    e = Causes()
    target = binding.get("target") if isinstance(binding.get("target"), dict) else {}
    if target.get("kind") not in (None, "", "Node"):
        e.not_supported("target.kind", target["kind"], ["Node", "<empty>"])
    if not target.get("name"):
        e.required("target.name")
    meta = binding.get("metadata") if isinstance(binding.get("metadata"), dict) else {}
    _label_map(e, meta, "labels", "metadata")
    _annotation_map(e, meta, "annotations", "metadata")
    return _unique(e.causes)


def _validate(e: Causes, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    if _IS_EVENT.find(rt):
        _event_meta(e, obj)
    else:
        _object_meta(e, obj, _NAME_CHECKS.find(rt), rt.namespaced)
    if old is not None:
        _object_meta_update(e, obj, old)
    check = _KIND_CHECKS.find(rt)
    if check is not None:
        check(e, obj, old)


def _unique(causes: list[Cause]) -> list[Cause]:
    """Upstream reports an error once even when two checks find it."""
    if not causes:
        return causes
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for cause in causes:
        key = (cause.get("field", ""), cause.get("reason", ""), cause.get("message", ""))
        if key not in seen:
            seen.add(key)
            unique.append(cause)
    return unique
