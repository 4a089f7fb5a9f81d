"""`--controllers` selection as upstream's kube-controller-manager reads it."""
from __future__ import annotations

import pytest

from controller_manager.main import select

KNOWN = ["replicaset", "deployment", "endpoints", "nodeipam"]


@pytest.mark.parametrize("flag, allocate, expected", [
    ("*", True, KNOWN),
    ("*", False, ["replicaset", "deployment", "endpoints"]),
    ("*,-deployment", True, ["replicaset", "endpoints", "nodeipam"]),
    ("endpoints,replicaset", False, ["endpoints", "replicaset"]),
    ("*,nodeipam", False, ["replicaset", "deployment", "endpoints", "nodeipam"]),
])
def test_select(flag: str, allocate: bool, expected: list[str]) -> None:
    assert select(flag, KNOWN, allocate) == expected


@pytest.mark.parametrize("flag", ["bogus", "*,-bogus"])
def test_unknown_names_are_errors(flag: str) -> None:
    with pytest.raises(ValueError, match="bogus"):
        select(flag, KNOWN, True)
