"""The floor under any Python apiserver here: HTTP in, one etcd transaction, the body back — nothing else.

Same stack as the apiserver (uvicorn + httptools + uvloop, the apiserver's own
Storage on aetcd/gRPC, SO_REUSEPORT workers), none of its work (no decoding
beyond one json.loads, no defaulting, validation, managedFields, watch cache,
metrics).  bench/api.py drives it with the same load generator, so its rate is
what the apiserver could reach if every line of its own code cost nothing.

    python bench/_floor.py --etcd-servers URL --port P [--workers N]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apiserver.storage import Storage  # noqa: E402


def make_app(store: Storage) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            json.loads(body)
            await store.create(f"/bench/floor/{uuid.uuid4()}", body)
            status = 201
        else:
            body, status = b"ok", 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app


async def serve(etcd: str, port: int) -> None:
    store = Storage([etcd])
    await store.connect()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(make_app(store), http="httptools", loop="none", lifespan="off", access_log=False,
                            log_level="warning")
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--etcd-servers", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    if args.workers > 1:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind, so the children are stopped
        children = [subprocess.Popen([sys.executable, __file__, "--etcd-servers", args.etcd_servers,
                                      "--port", str(args.port)]) for _ in range(args.workers)]
        try:
            for child in children:
                child.wait()
        finally:
            for child in children:
                child.terminate()
        return
    import uvloop
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.etcd_servers, args.port))


if __name__ == "__main__":
    main()
