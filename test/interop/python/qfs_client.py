#!/usr/bin/env python3
"""A QFS storage client in Python, written from docs/protocol.md, PROTOCOL.md and the libp2p specs.

    python3 qfs_client.py put FILE --node MA (--namespace NS --id ID | --object-id HEX) [...]
    python3 qfs_client.py get OBJECT_ID --node MA [-o FILE] [--version N]
    python3 qfs_client.py proof OBJECT_ID --node MA --version N (--shard ID | --shard-index I) [--leaf N]
    python3 qfs_client.py ls --node MA [--prefix HEX] [--tag T] [--author A] [--limit N] [--all]
    python3 qfs_client.py object-id NAMESPACE ID

Errors print `error [CODE / SE_ERR_*]: detail`; exit 0 ok, 1 a failed check, 2 bad input,
3 the node refused or could not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import qfs_formulas as f
import qfs_verify as v
from libp2p_min import Identity, IncomingWhileWriting, Libp2pError, StreamReset, YamuxSession, dial, parse_multiaddr
from qfs_wire import (
    END_FRAME,
    MAX_DATA_PAYLOAD,
    MAX_REQUEST_JSON_FRAME_BYTES,
    T_DATA,
    T_END,
    T_ERROR,
    T_JSON,
    FrameStream,
    ProtocolViolation,
    QfsRemoteError,
    frame,
    parse_error_payload,
    parse_json_payload,
    raise_if_failure,
)

P_WRITE = "/qfs/storage/write/1.0.0"
P_READ = "/qfs/storage/read/1.0.0"
P_PROOF = "/qfs/storage/get_proof/1.0.0"
P_LIST = "/qfs/storage/list_objects/1.0.0"


class QfsClient:
    def __init__(self, multiaddr: str, identity: Identity | None = None, idle_timeout: float = 30.0) -> None:
        self.multiaddr = multiaddr
        self.identity = identity or Identity()
        self.idle = idle_timeout
        self.session: YamuxSession | None = None

    async def __aenter__(self) -> "QfsClient":
        self.session = await dial(self.multiaddr, self.identity)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.session:
            await self.session.close()

    @property
    def node_id(self) -> str:
        assert self.session is not None
        return self.session.conn.remote_peer

    async def _open(self, protocol: str) -> FrameStream:
        assert self.session is not None
        st = await asyncio.wait_for(self.session.open_stream(protocol), 10)
        return FrameStream(st, self.idle)

    async def _request(self, fs: FrameStream, req: dict) -> None:
        payload = f.jcs_bytes(req)
        if 1 + len(payload) > MAX_REQUEST_JSON_FRAME_BYTES:
            raise ValueError("request JSON frame above 262_145 bytes")
        await fs.send(frame(T_JSON, payload))

    async def _finish(self, fs: FrameStream) -> None:
        """The server closes its side after its answer (section 3); anything more is a violation."""
        await fs.expect_eof()

    # ------------------------------------------------------------ write (4.2)
    async def write(self, req: dict, source: BinaryIO | bytes) -> dict:
        """req: object_id, version, content_size, metadata[, kind, epoch, timestamp_tick]."""
        fs = await self._open(P_WRITE)
        hc = f.HashCommit()
        size = req["content_size"]
        src = source if not isinstance(source, (bytes, bytearray)) else None
        sent = 0
        early = False
        try:
            await self._request(fs, req)
            while sent < size:
                if fs.stream.has_incoming():
                    early = True  # section 3: a frame before END: stop sending, read, reset
                    break
                n = min(MAX_DATA_PAYLOAD, size - sent)
                chunk = src.read(n) if src is not None else bytes(source[sent : sent + n])
                if not chunk:
                    raise ValueError(f"source ended at {sent} of {size} bytes")
                hc.update(chunk)
                try:
                    await fs.send(frame(T_DATA, chunk), stop_on_incoming=True)
                except IncomingWhileWriting:
                    early = True  # the frame may be cut: the stream is reset after the answer
                    break
                sent += len(chunk)
            if not early:
                await fs.send(END_FRAME)
                await fs.close_write()
            ans = await fs.expect_json("write answer")
            if early:
                fs.reset()
            else:
                await self._finish(fs)
        except BaseException:
            fs.reset()
            raise
        raise_if_failure(ans)
        if early:
            raise ProtocolViolation("the node answered ok before END")
        seed = f.metadata_seed(req["metadata"])
        v.check_write_answer(ans, req, hc.finish(f.SCHEMA_VERSION, seed))
        return ans

    async def _ask_header(self, fs, req: dict, what: str, keys: set[str]) -> dict:
        """Sends a request, closes our side and reads the answer's header: a Failure is raised
        (4.1), a success must carry exactly `keys`."""
        await self._request(fs, req)
        await fs.close_write()
        header = await fs.expect_json(what)
        if header.get("ok") is False:
            await self._finish(fs)
            raise_if_failure(header)
        if set(header) != keys or header["ok"] is not True:
            raise ProtocolViolation(f"{what} keys {sorted(header)}")
        return header

    # ------------------------------------------------------------ read (4.3)
    async def read(self, object_id: str, version: int | None, sink: BinaryIO | None, header_only: bool = False) -> dict:
        """Streams the content into sink, verified; returns {"header", "trailer"}.

        The caller MUST discard what reached sink if this raises (4.3)."""
        fs = await self._open(P_READ)
        req: dict = {"object_id": object_id}
        if version is not None:
            req["version"] = version
        try:
            keys = {"ok", "object_id", "version", "kind", "hash_commit", "content_size", "metadata", "record", "storage_event_id"}
            header = await self._ask_header(fs, req, "read header", keys)
            if header_only:
                fs.reset()  # section 3: a client that has what it needs resets
                return {"header": header}
            ver = v.ReadVerifier(header)
            while True:
                fr = await fs.next_frame()
                if fr is None:
                    raise ProtocolViolation("read ended without a trailer")
                ftype, payload = fr
                if ftype == T_DATA:
                    ver.feed(payload)
                    if sink is not None:
                        sink.write(payload)
                elif ftype == T_JSON:
                    trailer = parse_json_payload(payload)
                    break
                elif ftype == T_ERROR:
                    raise parse_error_payload(payload)
                else:
                    raise ProtocolViolation(f"frame type {ftype} inside a read")
            ver.finish(trailer)
            await self._finish(fs)
            return {"header": header, "trailer": trailer}
        except BaseException:
            fs.reset()
            raise

    # ------------------------------------------------------------ get_proof (4.4)
    async def get_proof(self, req: dict) -> dict:
        fs = await self._open(P_PROOF)
        try:
            await self._request(fs, req)
            await fs.close_write()
            ans = await fs.expect_json("get_proof answer")
            await self._finish(fs)
        except BaseException:
            fs.reset()
            raise
        raise_if_failure(ans)
        return ans

    # ------------------------------------------------------------ list_objects (4.5)
    async def list_page(self, filters: dict | None = None, epoch: int | None = None) -> dict:
        fs = await self._open(P_LIST)
        req: dict = {}
        if filters:
            req["filters"] = filters
        if epoch is not None:
            req["epoch"] = epoch
        try:
            header = await self._ask_header(fs, req, "list header", {"ok", "next_cursor", "storage_event_id"})
            objects = []
            while True:
                fr = await fs.next_frame()
                if fr is None:
                    raise ProtocolViolation("list ended without END")
                ftype, payload = fr
                if ftype == T_END:
                    break
                if ftype == T_ERROR:
                    raise parse_error_payload(payload)
                if ftype != T_JSON:
                    raise ProtocolViolation(f"frame type {ftype} inside a listing")
                s = parse_json_payload(payload)
                want = {"object_id", "version", "kind", "hash_commit", "content_size", "created_at_tick", "metadata"}
                if set(s) != want:
                    raise ProtocolViolation(f"summary keys {sorted(s)}")
                objects.append(s)
            await self._finish(fs)
        except BaseException:
            fs.reset()
            raise
        keys = [(bytes.fromhex(o["object_id"]), o["version"]) for o in objects]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ProtocolViolation("summaries not sorted by (object_id, version)")
        cur = header["next_cursor"]
        after = (filters or {}).get("after")
        if cur is not None and after is not None:
            if (bytes.fromhex(cur["object_id"]), cur["version"]) <= (bytes.fromhex(after["object_id"]), after["version"]):
                raise ProtocolViolation("next_cursor does not advance past after")
        return {"objects": objects, "next_cursor": cur, "storage_event_id": header["storage_event_id"]}

    async def list_all(self, filters: dict | None = None, max_pages: int = 10_000) -> dict:
        filters = dict(filters or {})
        objects: list = []
        pages = 0
        while True:
            page = await self.list_page(filters)
            objects += page["objects"]
            pages += 1
            if page["next_cursor"] is None:
                return {"objects": objects, "next_cursor": None, "pages": pages}
            if pages >= max_pages:
                raise ProtocolViolation("listing did not end")
            filters["after"] = page["next_cursor"]

    async def latest_version(self, object_id: str) -> int:
        """The latest version listed for object_id (0 when none); follows next_cursor (4.5)."""
        res = await self.list_all({"prefix": object_id, "limit": 1000})
        versions = [o["version"] for o in res["objects"] if o["object_id"] == object_id]
        return max(versions, default=0)


# ---------------------------------------------------------------- snapshot helpers (optional)


def load_snapshot(path: str | None) -> dict | None:
    if not path:
        return None
    snap = json.loads(Path(path).read_text("utf-8"))
    return snap


# ---------------------------------------------------------------- CLI


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=None, ensure_ascii=False) + "\n")


async def cmd_put(a: argparse.Namespace) -> int:
    if a.object_id:
        oid = a.object_id
        f.id_bytes(oid)
    elif a.namespace is not None and a.id is not None:
        oid = f.object_id(a.namespace, a.id)
    else:
        raise ValueError("put needs --object-id or --namespace and --id")
    path = Path(a.file)
    size = 0 if a.delete else path.stat().st_size
    async with QfsClient(a.node) as c:
        version = a.version if a.version is not None else await c.latest_version(oid) + 1
        meta: dict = {"author_node_id": a.author or "qfs-cli", "created_at_tick": a.tick}
        if a.tag:
            meta["tags"] = a.tag
        f.normalize_metadata(meta)  # refuse locally what the node would refuse
        req = {"object_id": oid, "version": version, "content_size": size, "metadata": meta}
        if a.delete:
            req["kind"] = "DELETE_MARKER"
        if a.epoch is not None:
            req["epoch"] = a.epoch
        if a.timestamp_tick is not None:
            req["timestamp_tick"] = a.timestamp_tick
        if a.delete:
            ans = await c.write(req, b"")
        else:
            with path.open("rb") as src:
                ans = await c.write(req, src)
        snap = load_snapshot(a.snapshot)
        if snap:
            v.check_placement(ans["replica_sets"], [n["node_id"] for n in snap["nodes"]], snap["params"]["replication_factor"])
    _print(ans)
    return 0


async def cmd_get(a: argparse.Namespace) -> int:
    async with QfsClient(a.node) as c:
        out = Path(a.output) if a.output and a.output != "-" else None
        if out and out.exists() and not a.force:
            raise ValueError(f"{out} exists (use --force)")
        tmp_dir = out.parent if out else None
        fd, tmp = tempfile.mkstemp(prefix=".qfs-py-", dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as sink:
                res = await c.read(a.object_id, a.version, sink)
            if out:
                os.replace(tmp, out)
            else:
                with open(tmp, "rb") as src:
                    while chunk := src.read(1 << 20):
                        sys.stdout.buffer.write(chunk)
                os.unlink(tmp)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    h = res["header"]
    summary = {
        "verified": True,
        "object_id": h["object_id"],
        "version": h["version"],
        "kind": h["kind"],
        "content_size": h["content_size"],
        "hash_commit": h["hash_commit"],
        "storage_event_id": h["storage_event_id"],
        "served_by": [p["served_by"] for p in res["trailer"]["proofs"]],
    }
    (sys.stderr if not out else sys.stdout).write(json.dumps(summary) + "\n")
    return 0


async def cmd_proof(a: argparse.Namespace) -> int:
    async with QfsClient(a.node) as c:
        got = await c.read(a.object_id, a.version, None, header_only=True)
        rec = got["header"]["record"]
        if a.shard:
            sid = a.shard
        elif a.shard_index is not None:
            sid = f.shard_id(a.object_id, a.version, a.shard_index)
        else:
            raise ValueError("proof needs --shard or --shard-index")
        req: dict = {"object_id": a.object_id, "version": a.version, "shard_id": sid}
        if a.leaf is not None:
            req["leaf_index"] = a.leaf
        if a.epoch is not None:
            req["epoch"] = a.epoch
        ans = await c.get_proof(req)
    challenge = None
    snap = load_snapshot(a.snapshot)
    if snap and a.leaf is None:
        sh = next(s for s in rec["shards"] if s["shard_id"] == sid)
        challenge = f.challenge_index(snap["epoch"], snap["snapshot_hash"], sid, sh["leaf_count"])
    try:
        res = v.verify_proof(ans, req, rec, challenge)
    except v.VerifyError as e:
        _print({"verified": False, "reason": str(e), "proof": ans})
        return 1
    _print({**res, "challenge_checked": challenge is not None, "answered_by": ans["answered_by"], "proof": ans["proof"]})
    return 0


async def cmd_ls(a: argparse.Namespace) -> int:
    filters: dict = {}
    for k in ("prefix", "tag", "author"):
        if getattr(a, k) is not None:
            filters[k] = getattr(a, k)
    if a.tick_from is not None:
        filters["tick_from"] = a.tick_from
    if a.tick_to is not None:
        filters["tick_to"] = a.tick_to
    if a.limit is not None:
        filters["limit"] = a.limit
    if a.after:
        oid, _, ver = a.after.partition(":")
        filters["after"] = {"object_id": oid, "version": int(ver)}
    async with QfsClient(a.node) as c:
        res = await (c.list_all(filters) if a.all else c.list_page(filters))
    if a.json:
        _print({"objects": res["objects"], "next_cursor": res["next_cursor"]})
    else:
        for o in res["objects"]:
            _print(o)
        if res["next_cursor"]:
            cur = res["next_cursor"]
            sys.stderr.write(f"next page: --after {cur['object_id']}:{cur['version']}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qfs_client.py", description="QFS storage client (Python interop)")
    sub = p.add_subparsers(dest="cmd", required=True)

    put = sub.add_parser("put", help="store FILE as a version of an object")
    put.add_argument("file")
    put.add_argument("--node", required=True)
    put.add_argument("--namespace")
    put.add_argument("--id")
    put.add_argument("--object-id")
    put.add_argument("--version", type=int)
    put.add_argument("--author")
    put.add_argument("--tick", type=int, default=0)
    put.add_argument("--tag", action="append")
    put.add_argument("--delete", action="store_true", help="write a DELETE_MARKER (FILE is ignored)")
    put.add_argument("--epoch", type=int)
    put.add_argument("--timestamp-tick", type=int)
    put.add_argument("--snapshot", help="epoch snapshot JSON: also check placement of replica_sets")

    get = sub.add_parser("get", help="read and verify a version")
    get.add_argument("object_id")
    get.add_argument("--node", required=True)
    get.add_argument("-o", "--output")
    get.add_argument("--version", type=int)
    get.add_argument("--force", action="store_true")

    pr = sub.add_parser("proof", help="get a storage proof and verify it against the record")
    pr.add_argument("object_id")
    pr.add_argument("--node", required=True)
    pr.add_argument("--version", type=int, required=True)
    pr.add_argument("--shard")
    pr.add_argument("--shard-index", type=int)
    pr.add_argument("--leaf", type=int)
    pr.add_argument("--epoch", type=int)
    pr.add_argument("--snapshot", help="epoch snapshot JSON: also check the leaf is the challenge index")

    ls = sub.add_parser("ls", help="list versions")
    ls.add_argument("--node", required=True)
    ls.add_argument("--prefix")
    ls.add_argument("--tag")
    ls.add_argument("--author")
    ls.add_argument("--tick-from", type=int)
    ls.add_argument("--tick-to", type=int)
    ls.add_argument("--limit", type=int)
    ls.add_argument("--after")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--json", action="store_true")

    oid = sub.add_parser("object-id", help="print H(lp(namespace) || lp(id))")
    oid.add_argument("namespace")
    oid.add_argument("id")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.cmd == "object-id":
        print(f.object_id(a.namespace, a.id))
        return 0
    if a.cmd != "object-id":
        parse_multiaddr(a.node)
    cmd = {"put": cmd_put, "get": cmd_get, "proof": cmd_proof, "ls": cmd_ls}[a.cmd]
    try:
        return asyncio.run(cmd(a))
    except QfsRemoteError as e:
        sys.stderr.write(f"error [{e.code} / {e.error_code}]: {e.detail} ({e.via})\n")
        return 3
    except (v.VerifyError, ProtocolViolation) as e:
        sys.stderr.write(f"error [{type(e).__name__}]: {e}\n")
        return 1
    except (Libp2pError, StreamReset, asyncio.TimeoutError, ConnectionError) as e:
        sys.stderr.write(f"error [NODE_UNAVAILABLE]: {e!r}\n")
        return 3
    except (ValueError, OSError, f.FormulaError) as e:
        sys.stderr.write(f"error [INVALID_INPUT]: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
