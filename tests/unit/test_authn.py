"""The static token file, as upstream's tokenfile reads it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from apiserver.authn import TokenAuthenticator, TokenFileError, User, load_token_file


def test_token_file_lines_with_and_without_groups(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('abc,alice,1,"devs,ops"\n\ndef,bob,2\n')
    assert load_token_file(path) == {"abc": User("alice", "1", ("devs", "ops")), "def": User("bob", "2", ())}


@pytest.mark.parametrize("text, message", [
    ("abc,alice\n", "line 1: want token,user,uid[,groups], got 2 field(s)"),
    (",alice,1\n", "line 1: empty token or user name"),
    ("\n", "no tokens"),
])
def test_bad_token_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(text)
    with pytest.raises(TokenFileError, match=re.escape(message)):
        load_token_file(path)


def test_missing_token_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="No such file"):
        load_token_file(tmp_path / "absent.csv")


@pytest.mark.parametrize("header, user", [
    (b"Bearer abc", "alice"), (b"bearer abc", "alice"), (b"Bearer  abc ", "alice"),
    (b"Basic abc", None), (b"Bearer abcd", None), (b"Bearer", None),
])
def test_bearer_header_lookup(header: bytes, user: str | None) -> None:
    auth = TokenAuthenticator(None, {"abc": User("alice", "1", ())})
    found = auth.user([(b"authorization", header)])
    assert (found.name if found else None) == user
