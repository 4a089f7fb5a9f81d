"""Authentication: static bearer tokens (`--token-auth-file`, upstream's CSV) in front of every route.

With a token file, a request needs `Authorization: Bearer <token>` naming a known
token, or it gets upstream's 401 Unauthorized Status.  The health endpoints stay
open, as upstream's anonymous-auth allow-list leaves them (load balancers and
probes call them without credentials).  Without a token file nothing is checked:
that is only allowed on loopback (apiserver/main.py refuses otherwise).
"""
from __future__ import annotations

import csv
import hmac
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
UNAUTHORIZED = orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": "Unauthorized", "reason": "Unauthorized", "code": 401})


@dataclass(frozen=True)
class User:
    name: str
    uid: str
    groups: tuple[str, ...]


class TokenFileError(ValueError):
    pass


def load_token_file(path: str | Path) -> dict[str, User]:
    """`token,user,uid[,"group1,group2"]` per line, as upstream's tokenfile.NewCSV reads it."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise TokenFileError(f"--token-auth-file {path}: {exc.strerror}") from None
    tokens: dict[str, User] = {}
    for line_no, record in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not record or not "".join(record).strip():
            continue
        if len(record) < 3:
            raise TokenFileError(f"--token-auth-file {path}, line {line_no}: want token,user,uid[,groups], "
                                 f"got {len(record)} field(s)")
        token, name, uid = (field.strip() for field in record[:3])
        if not token or not name:
            raise TokenFileError(f"--token-auth-file {path}, line {line_no}: empty token or user name")
        groups = tuple(g.strip() for g in record[3].split(",") if g.strip()) if len(record) > 3 else ()
        tokens[token] = User(name, uid, groups)
    if not tokens:
        raise TokenFileError(f"--token-auth-file {path}: no tokens")
    return tokens


class TokenAuthenticator:
    """ASGI middleware: HTTP and WebSocket requests carry a known bearer token, or get 401."""

    def __init__(self, app: Any, tokens: dict[str, User]) -> None:
        self.app = app
        self.tokens = tokens

    def user(self, headers: list[tuple[bytes, bytes]]) -> User | None:
        for name, value in headers:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    return self._lookup(token.strip())
        return None

    def _lookup(self, token: str) -> User | None:
        for known, user in self.tokens.items():  # compare_digest for every entry: no timing hint
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        user = self.user(scope["headers"])
        if user is None:
            await _unauthorized(scope, send)
            return
        scope["user"] = user
        await self.app(scope, receive, send)


async def _unauthorized(scope: dict[str, Any], send: Any) -> None:
    start = {"status": 401, "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(UNAUTHORIZED)).encode())]}
    if scope["type"] == "websocket":  # refuse the upgrade with a real HTTP 401 (ASGI denial response)
        await send({"type": "websocket.http.response.start", **start})
        await send({"type": "websocket.http.response.body", "body": UNAUTHORIZED})
        return
    await send({"type": "http.response.start", **start})
    await send({"type": "http.response.body", "body": UNAUTHORIZED})
