"""Kubernetes resource quantities ("100m", "1Gi", "1e3"): parsing and canonical spelling, as apimachinery does."""
from __future__ import annotations

import decimal
import functools
import re
from decimal import Decimal
from typing import Any

QUANTITY_FORMAT_ERROR = ("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_QUANTITY = re.compile(r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?")
_BINARY_POWERS = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIXES = {exp: suffix for suffix, exp in _DECIMAL_EXPONENTS.items()}
_MAX_QUANTITY = Decimal(2**63 - 1)  # upstream caps every quantity at MaxInt64
_NANO = Decimal("1e-9")
_WIDE = decimal.Context(prec=80, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.InvalidOperation])


def parse_quantity(value: Any) -> Decimal:
    """A resource.Quantity ("100m", "1Gi", "1e3", 0.5) as a Decimal; ValueError when malformed."""
    return parse_quantity_with_format(value)[0]


def canonical_quantity(value: Any) -> str:
    """Quantity.String(): the canonical spelling upstream prints ("1000m" -> "1", "1.5Gi" -> "1536Mi")."""
    amount, fmt = parse_quantity_with_format(value)
    return format_quantity(amount, fmt)


def parse_quantity_with_format(value: Any) -> tuple[Decimal, str]:
    """(amount, format) where format is BinarySI, DecimalSI or DecimalExponent."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(QUANTITY_FORMAT_ERROR)
    return _parse_quantity_text(repr(value) if isinstance(value, float) else str(value))


@functools.lru_cache(maxsize=4096)
def _parse_quantity_text(text: str) -> tuple[Decimal, str]:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(QUANTITY_FORMAT_ERROR)
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        if suffix in _BINARY_POWERS:
            amount, fmt = _WIDE.multiply(number, Decimal(1024 ** _BINARY_POWERS[suffix])), "BinarySI"
        elif suffix in _DECIMAL_EXPONENTS:
            amount, fmt = _WIDE.scaleb(number, _DECIMAL_EXPONENTS[suffix]), "DecimalSI"
        else:
            exponent = int(suffix[1:])
            if not -2**31 <= exponent < 2**31:
                raise ValueError("unable to parse quantity's suffix")
            amount, fmt = _WIDE.scaleb(number, exponent), "DecimalExponent"
        return _round_and_cap(amount), fmt
    except (ArithmeticError, ValueError) as exc:
        raise ValueError(QUANTITY_FORMAT_ERROR if not str(exc).startswith("unable") else str(exc)) from None


def _round_and_cap(amount: Decimal) -> Decimal:
    """Non-zero amounts round up to a whole nano; magnitudes cap at MaxInt64 (as upstream)."""
    magnitude = min(abs(amount), _MAX_QUANTITY)
    if magnitude and magnitude.as_tuple().exponent < -9:  # type: ignore[operator]
        magnitude = magnitude.quantize(_NANO, rounding=decimal.ROUND_UP, context=_WIDE)
    return -magnitude if amount < 0 else magnitude


@functools.lru_cache(maxsize=4096)  # amounts are capped: small keys
def format_quantity(amount: Decimal, fmt: str) -> str:
    if amount == 0:
        return "0"
    sign, magnitude = ("-" if amount < 0 else ""), abs(amount)
    if fmt == "BinarySI" and magnitude >= 1024 and magnitude == magnitude.to_integral_value():
        mantissa, power = int(magnitude), 0
        while mantissa % 1024 == 0 and power < 6:
            mantissa, power = mantissa // 1024, power + 1
        return f"{sign}{mantissa}{('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei')[power]}"
    mantissa, exponent = int(_WIDE.scaleb(magnitude, 9)), -9
    while mantissa % 1000 == 0 and exponent < 18:
        mantissa, exponent = mantissa // 1000, exponent + 3
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{mantissa}{_DECIMAL_SUFFIXES[exponent]}"
