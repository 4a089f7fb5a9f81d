"""Remembering the answers of pure string checks: the same names, keys, quantities and times come by on every write."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
REMEMBERED_LENGTH = 512  # longer strings are no valid name, key, quantity or time, and may be big request data
_UNSEEN: Any = object()


def remember_short(check: Callable[[str], T]) -> Callable[[str], T]:
    """A pure check of one string that remembers its answers for short strings.  A long string is checked afresh
    and never kept alive; the memory is emptied when it holds 4096 answers (the working set is far smaller)."""
    answers: dict[str, T] = {}

    @functools.wraps(check)
    def remembered(value: str) -> T:
        answer = answers.get(value, _UNSEEN)
        if answer is _UNSEEN:
            answer = check(value)
            if len(value) <= REMEMBERED_LENGTH:
                if len(answers) >= 4096:
                    answers.clear()
                answers[value] = answer
        return answer
    return remembered
