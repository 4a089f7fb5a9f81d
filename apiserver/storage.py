"""The one module that talks to etcd: keys, revisions, transactions, ranges and watch streams.

Everything above it sees bytes, revisions and a handful of exceptions; swapping
the etcd client means rewriting only this file.  aetcd supplies the gRPC
channel and generated stubs; ranges, transactions and watches go through the
stubs directly because aetcd's helpers lack `limit`/`revision` on ranges and
drop the progress notifications a watch cache needs.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc
from aetcd.utils import prefix_range_end
from prometheus_client import Histogram

log = logging.getLogger(__name__)

ETCD_LATENCY = Histogram("etcd_request_duration_seconds", "etcd request latency by operation", ["operation"],
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))

_MAX_MESSAGE = 256 * 1024 * 1024


class StorageError(Exception):
    """Base of everything this module raises."""


class KeyExists(StorageError):
    pass


class KeyNotFound(StorageError):
    pass


class RevisionMismatch(StorageError):
    """The key changed since the caller read it (compare-and-swap lost)."""

    def __init__(self, current: "KeyValue | None") -> None:
        super().__init__("revision mismatch")
        self.current = current


class ClaimsTaken(StorageError):
    """Keys a transaction needed to be absent were present (someone else holds them)."""

    def __init__(self, keys: set[str]) -> None:
        super().__init__(f"already claimed: {', '.join(sorted(keys))}")
        self.keys = keys


class Compacted(StorageError):
    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revision compacted below {compact_revision}")
        self.compact_revision = compact_revision


class Unavailable(StorageError):
    """etcd could not be reached or timed out."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int
    more: bool
    remaining: int  # keys after this page, for metadata.remainingItemCount


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # "PUT" or "DELETE"
    key: str
    value: bytes  # the new value for PUT, the last value for DELETE
    prev_value: bytes | None
    revision: int
    created: bool  # PUT that created the key


@dataclass(slots=True)
class WatchBatch:
    """Events of one etcd response; with no events it is a progress notification."""
    revision: int
    events: list[Event] = field(default_factory=list)


class Storage:
    def __init__(self, servers: list[str], timeout: float = 10.0) -> None:
        target_host, port = _grpc_target(servers)
        options = {"grpc.max_receive_message_length": _MAX_MESSAGE, "grpc.max_send_message_length": _MAX_MESSAGE,
                   "grpc.keepalive_time_ms": 10_000, "grpc.keepalive_timeout_ms": 5_000}
        self._client = aetcd.Client(host=target_host, port=port, timeout=timeout, options=options)
        self._timeout = timeout
        self.servers = servers
        self._leases: dict[int, tuple[int, float]] = {}  # ttl -> (lease id, granted at)

    async def connect(self, wait_s: float = 30.0) -> None:
        """Connect and wait until etcd answers (it may still be starting)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                await self._client.connect()
                await self.current_revision()
                return
            except (Unavailable, aetcd.exceptions.ClientError) as exc:
                if time.monotonic() > deadline:
                    raise Unavailable(f"etcd at {','.join(self.servers)} is unreachable: {exc}") from exc
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self._client.close()

    @property
    def _kv(self) -> rpc.KVStub:
        return self._client.kvstub

    # -- reads -------------------------------------------------------------

    async def get(self, key: str) -> KeyValue | None:
        resp = await self._call("get", self._kv.Range, rpc.RangeRequest(key=key.encode()))
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def current_revision(self) -> int:
        # A count-only range of one impossible key: the cheapest quorum read that returns the revision.
        resp = await self._call("revision", self._kv.Range, rpc.RangeRequest(key=b"\0", count_only=True))
        return resp.header.revision

    async def list(self, prefix: str, *, start_key: str | None = None, limit: int = 0,
                   revision: int = 0) -> ListResult:
        """Keys under prefix from start_key on, at `revision` (0 = now); `limit` 0 = all."""
        request = rpc.RangeRequest(key=(start_key or prefix).encode(), range_end=prefix_range_end(prefix.encode()),
                                   limit=limit, revision=revision)
        resp = await self._call("list", self._kv.Range, request)
        items = [_kv(kv) for kv in resp.kvs]
        # etcd's header carries its current revision even for a read at an older one.
        return ListResult(items, revision or resp.header.revision, resp.more, max(resp.count - len(items), 0))

    # -- writes ------------------------------------------------------------

    async def create(self, key: str, value: bytes, ttl_s: int = 0) -> int:
        """Put key only if absent, expiring after ttl_s if given; returns the new revision."""
        compare = rpc.Compare(key=key.encode(), target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                              create_revision=0)
        resp = await self._txn("create", compare, _put(key, value, await self._lease(ttl_s)))
        if not resp.succeeded:
            raise KeyExists(key)
        return resp.header.revision

    async def update(self, key: str, value: bytes, expected_mod_revision: int, ttl_s: int = 0) -> int:
        """Put key only if unchanged since expected_mod_revision; returns the new revision."""
        op = _put(key, value, await self._lease(ttl_s))
        resp = await self._txn("update", _unchanged(key, expected_mod_revision), op)
        if not resp.succeeded:
            raise self._mismatch(key, resp)
        return resp.header.revision

    async def delete(self, key: str, expected_mod_revision: int) -> int:
        """Delete key only if unchanged; returns the deletion revision."""
        op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode()))
        resp = await self._txn("delete", _unchanged(key, expected_mod_revision), op)
        if not resp.succeeded:
            raise self._mismatch(key, resp)
        return resp.header.revision

    async def commit(self, key: str, value: bytes | None, expected_mod_revision: int, *,
                     claims: dict[str, bytes] | None = None, releases: list[str] | None = None) -> int:
        """Write `key` together with side keys, all or nothing, in one transaction; returns the new revision.

        `expected_mod_revision` 0 creates `key` (KeyExists if present), otherwise compare-and-swaps it
        (RevisionMismatch / KeyNotFound); `value` None deletes it.  Each claim is put only if absent
        (ClaimsTaken names those held); releases are deleted.  Used for allocations that must never leak
        or double up: a Service and the cluster IPs and node ports it holds.
        """
        claims, releases = claims or {}, releases or []
        if expected_mod_revision == 0:
            compares = [rpc.Compare(key=key.encode(), target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                                    create_revision=0)]
        else:
            compares = [_unchanged(key, expected_mod_revision)]
        compares += [rpc.Compare(key=k.encode(), target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                                 create_revision=0) for k in claims]
        main = (_put(key, value) if value is not None
                else rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode())))
        success = [main, *(_put(k, v) for k, v in claims.items()),
                   *(rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k.encode())) for k in releases)]
        failure = [rpc.RequestOp(request_range=rpc.RangeRequest(key=k.encode(), keys_only=k != key))
                   for k in (key, *claims)]
        resp = await self._call("commit", self._kv.Txn, rpc.TxnRequest(compare=compares, success=success,
                                                                       failure=failure))
        if resp.succeeded:
            return resp.header.revision
        current = resp.responses[0].response_range.kvs
        if expected_mod_revision == 0 and current:
            raise KeyExists(key)
        if expected_mod_revision != 0 and (not current or current[0].mod_revision != expected_mod_revision):
            raise self._mismatch(key, resp)
        raise ClaimsTaken({k for k, r in zip(claims, resp.responses[1:]) if r.response_range.kvs})

    async def _lease(self, ttl_s: int) -> int:
        """A lease expiring no sooner than ttl_s, shared by writes within a minute (as upstream's lease manager)."""
        if ttl_s <= 0:
            return 0
        now = time.monotonic()
        reuse_window = min(60.0, ttl_s / 10)
        cached = self._leases.get(ttl_s)
        if cached and now - cached[1] < reuse_window:
            return cached[0]
        request = rpc.LeaseGrantRequest(TTL=int(ttl_s + reuse_window))
        resp = await self._call("lease", self._client.leasestub.LeaseGrant, request)
        self._leases[ttl_s] = (resp.ID, now)
        return resp.ID

    async def compact(self, revision: int) -> None:
        try:
            await self._call("compact", self._kv.Compact, rpc.CompactionRequest(revision=revision, physical=False))
        except Compacted:
            pass  # already compacted at or beyond this revision

    async def put_unconditionally(self, key: str, value: bytes) -> int:
        """A bare put, for benchmarks measuring the raw layer."""
        resp = await self._call("put", self._kv.Put, rpc.PutRequest(key=key.encode(), value=value))
        return resp.header.revision

    async def _txn(self, operation: str, compare: rpc.Compare, op: rpc.RequestOp) -> rpc.TxnResponse:
        key = compare.key
        failure = rpc.RequestOp(request_range=rpc.RangeRequest(key=key))
        request = rpc.TxnRequest(compare=[compare], success=[op], failure=[failure])
        return await self._call(operation, self._kv.Txn, request)

    @staticmethod
    def _mismatch(key: str, resp: rpc.TxnResponse) -> StorageError:
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            return KeyNotFound(key)
        return RevisionMismatch(_kv(kvs[0]))

    async def _call(self, operation: str, method, request):  # type: ignore[no-untyped-def]
        await self._client.connect()
        start = time.perf_counter()
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc) from exc
        finally:
            _latency(operation).observe(time.perf_counter() - start)

    # -- watch -------------------------------------------------------------

    async def watch(self, prefix: str, start_revision: int) -> "WatchStream":
        await self._client.connect()
        return WatchStream(rpc.WatchStub(self._client.channel), prefix, start_revision)


@functools.cache
def _latency(operation: str) -> Any:
    """The histogram child of one operation, looked up once (labels() validates and locks every time)."""
    return ETCD_LATENCY.labels(operation)


class WatchStream:
    """One etcd watch over a key prefix, with previous values and on-demand progress notifications."""

    def __init__(self, stub: rpc.WatchStub, prefix: str, start_revision: int) -> None:
        self._requests: asyncio.Queue[rpc.WatchRequest | None] = asyncio.Queue()
        create = rpc.WatchCreateRequest(key=prefix.encode(), range_end=prefix_range_end(prefix.encode()),
                                        start_revision=start_revision, prev_kv=True)
        self._requests.put_nowait(rpc.WatchRequest(create_request=create))
        self._call = stub.Watch(self._request_iterator())
        self._closed = False

    async def _request_iterator(self) -> AsyncIterator[rpc.WatchRequest]:
        while (request := await self._requests.get()) is not None:
            yield request

    def request_progress(self) -> None:
        """Ask etcd to report the revision it has sent everything up to."""
        self._requests.put_nowait(rpc.WatchRequest(progress_request=rpc.WatchProgressRequest()))

    def close(self) -> None:
        self._closed = True
        self._requests.put_nowait(None)
        self._call.cancel()

    async def __aiter__(self) -> AsyncIterator[WatchBatch]:
        try:
            async for resp in self._call:
                if resp.compact_revision:
                    raise Compacted(resp.compact_revision)
                if resp.canceled:
                    raise Unavailable(f"etcd canceled the watch: {resp.cancel_reason}")
                if resp.created and not resp.events:
                    continue
                yield WatchBatch(resp.header.revision, [_event(e) for e in resp.events])
        except grpc.aio.AioRpcError as exc:
            if self._closed:
                return
            raise _translate(exc) from exc
        except asyncio.CancelledError:
            # grpc raises CancelledError for a call we cancelled ourselves; a real task cancellation propagates.
            task = asyncio.current_task()
            if self._closed and not (task and task.cancelling()):
                return
            raise
        if not self._closed:
            raise Unavailable("etcd ended the watch stream")


def _event(e: rpc.Event) -> Event:
    kv = e.kv
    prev = e.prev_kv.value if e.HasField("prev_kv") else None
    if e.type == rpc.Event.DELETE:
        return Event("DELETE", kv.key.decode(), prev or b"", None, kv.mod_revision, False)
    return Event("PUT", kv.key.decode(), kv.value, prev, kv.mod_revision, kv.version == 1)


def _kv(kv: rpc.KeyValue) -> KeyValue:
    return KeyValue(kv.key.decode(), kv.value, kv.mod_revision, kv.create_revision)


def _put(key: str, value: bytes, lease: int = 0) -> rpc.RequestOp:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key.encode(), value=value, lease=lease))


def _unchanged(key: str, mod_revision: int) -> rpc.Compare:
    return rpc.Compare(key=key.encode(), target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                       mod_revision=mod_revision)


def _translate(exc: grpc.aio.AioRpcError) -> StorageError:
    details = exc.details() or ""
    if "compacted" in details:
        return Compacted(0)
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return Unavailable(f"etcd: {details or exc.code().name}")
    return StorageError(f"etcd: {exc.code().name}: {details}")


def _grpc_target(servers: list[str]) -> tuple[str, int]:
    """`--etcd-servers` URLs → the (host, port) aetcd builds its gRPC target from.

    Several endpoints become one `ipv4:` target list so gRPC fails over between them.
    """
    addresses = []
    for server in servers:
        parts = urlsplit(server if "://" in server else f"http://{server}")
        addresses.append((parts.hostname or "127.0.0.1", parts.port or 2379))
    if len(addresses) == 1:
        return addresses[0]
    head = ",".join(f"{h}:{p}" for h, p in addresses[:-1])
    return f"ipv4:{head},{addresses[-1][0]}", addresses[-1][1]
