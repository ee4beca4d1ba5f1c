#!/usr/bin/env python3
"""Edge-case probes of a running node: what it answers to bad or borderline input.

    python3 probe.py --node MULTIADDR

Prints one JSON line per probe: what was sent, what the docs say, what came back. Used to write
FINDINGS.md; a probe whose answer differs from the docs is marked "doc_mismatch": true.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import qfs_formulas as f
from libp2p_min import StreamReset
from qfs_client import P_LIST, P_PROOF, P_READ, P_WRITE, QfsClient
from qfs_wire import END_FRAME, T_DATA, T_ERROR, T_JSON, ProtocolViolation, frame, parse_json_payload


async def raw(c: QfsClient, protocol: str, data: bytes, close: bool = True, wait: float = 15.0) -> dict:
    """Send raw bytes on a new stream; collect every frame until the stream ends or is reset."""
    fs = await c._open(protocol)
    out: dict = {"frames": [], "end": None}
    t0 = asyncio.get_running_loop().time()
    try:
        await fs.send(data)
        if close:
            await fs.close_write()

        async def collect() -> None:
            while True:
                fr = await fs.next_frame()
                if fr is None:
                    out["end"] = "FIN"
                    return
                t, p = fr
                if t in (T_JSON, T_ERROR):
                    try:
                        body = parse_json_payload(p)
                    except ProtocolViolation as e:
                        body = {"_unparsable": str(e)}
                    out["frames"].append({"type": "ERROR" if t == T_ERROR else "JSON", "body": body})
                else:
                    out["frames"].append({"type": {2: "DATA", 3: "END"}.get(t, t), "len": len(p)})

        await asyncio.wait_for(collect(), wait)
    except StreamReset:
        out["end"] = "RESET"
    except asyncio.TimeoutError:
        out["end"] = "TIMEOUT(client)"
    except ProtocolViolation as e:
        out["end"] = f"VIOLATION {e}"
    finally:
        fs.reset()
    out["seconds"] = round(asyncio.get_running_loop().time() - t0, 2)
    return out


def summarize(res: dict) -> list:
    s = []
    for fr in res["frames"]:
        if fr["type"] in ("JSON", "ERROR"):
            b = fr["body"]
            if "code" in b:
                via = "ERROR" if fr["type"] == "ERROR" else f"Failure(event={'yes' if b.get('storage_event_id') else b.get('storage_event_id')})"
                s.append(f"{via} {b.get('code')}/{b.get('error_code')}: {str(b.get('error_detail'))[:140]}")
            else:
                s.append(f"{fr['type']} ok={b.get('ok')} keys={sorted(b)[:12]}")
        else:
            s.append(f"{fr['type']} {fr.get('len', '')}")
    s.append(f"end={res['end']} after {res['seconds']}s")
    return s


def jf(obj: dict) -> bytes:
    return frame(T_JSON, f.jcs_bytes(obj))


def meta(**kw) -> dict:
    m = {"author_node_id": "py-probe", "created_at_tick": 1}
    m.update(kw)
    return m


async def probes(node: str) -> list[dict]:
    results = []
    oid = f.object_id("py-probe", "p1")
    empty_oid = f.object_id("py-probe", "never-written")

    async with QfsClient(node) as c:

        async def run(name: str, protocol: str, data: bytes, doc: str, close: bool = True, wait: float = 15.0) -> dict:
            r = await raw(c, protocol, data, close, wait)
            row = {"probe": name, "docs": doc, "got": summarize(r)}
            results.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
            return r

        def write_req(obj_id: str, version: int, content: bytes, m: dict, **extra) -> bytes:
            req = {"object_id": obj_id, "version": version, "content_size": len(content), "metadata": m, **extra}
            data = jf(req)
            if content:
                data += frame(T_DATA, content)
            return data + END_FRAME

        # ---- framing (section 2)
        await run("non-canonical JSON request", P_READ, frame(T_JSON, b'{ "object_id": "x" }'), "ERROR FRAME_INVALID")
        await run("JSON not an object", P_READ, frame(T_JSON, b"[1]"), "ERROR FRAME_INVALID")
        await run("empty frame (length 0)", P_READ, b"\x00", "ERROR FRAME_INVALID")
        await run("non-minimal varint", P_READ, b"\x82\x00\x01{" , "ERROR FRAME_INVALID")
        await run("announced length > max", P_READ, b"\x82\x80\x40\x01", "ERROR FRAME_TOO_LARGE")
        await run("5-byte prefix", P_READ, b"\x81\x80\x80\x80\x00", "ERROR FRAME_TOO_LARGE (prefix longer than 4 bytes)")
        await run("request JSON frame > 262145", P_LIST, b"\x82\x80\x10\x01", "ERROR FRAME_TOO_LARGE", close=False, wait=5)
        await run("unknown frame type 0x07", P_READ, frame(7, b"x"), "ERROR UNKNOWN_MESSAGE")
        await run("KEEPALIVE on read", P_READ, frame(5), "ERROR UNKNOWN_MESSAGE")
        await run("DATA before request", P_READ, frame(T_DATA, b"x"), "ERROR UNEXPECTED_FRAME")
        await run("END before request", P_READ, END_FRAME, "ERROR UNEXPECTED_FRAME")
        await run("END with payload", P_READ, frame(3, b"x"), "ERROR FRAME_INVALID")
        await run("empty DATA", P_READ, frame(T_DATA), "ERROR FRAME_INVALID")
        await run("stream ends inside a frame", P_READ, b"\x10\x01{", "ERROR FRAME_INVALID")
        await run("ERROR frame from client", P_READ, frame(T_ERROR, f.jcs_bytes({"code": "X", "error_code": "SE_ERR_INTERNAL", "error_detail": ""})), "ends as STREAM_ENDED (not echoed?)")
        await run("no request, FIN at once", P_READ, b"", "? (not documented)")
        deep = b'{"a":' * 40 + b"1" + b"}" * 40
        await run("JSON 40 levels deep", P_READ, frame(T_JSON, deep), "ERROR FRAME_INVALID")
        await run("JSON with a float", P_READ, frame(T_JSON, b'{"object_id":"' + oid.encode() + b'","version":1.5}'), "INVALID_INPUT")
        await run("JSON with 1e0 (non-canonical number)", P_READ, frame(T_JSON, b'{"object_id":"' + oid.encode() + b'","version":1e0}'), "FRAME_INVALID (not canonical)")

        # ---- request validation
        await run("read: unknown field", P_READ, jf({"object_id": oid, "x": 1}), "ERROR INVALID_INPUT")
        await run("read: upper-case object_id", P_READ, jf({"object_id": oid.upper()}), "INVALID_INPUT")
        await run("read: version 0", P_READ, jf({"object_id": oid, "version": 0}), "INVALID_INPUT?")
        await run("read: version 2^53", P_READ, frame(T_JSON, b'{"object_id":"' + oid.encode() + b'","version":9007199254740992}'), "INVALID_INPUT")
        await run("read: never written", P_READ, jf({"object_id": empty_oid}), "Failure NOT_FOUND or ERROR")
        await run("read: never written, version 1", P_READ, jf({"object_id": empty_oid, "version": 1}), "Failure NOT_FOUND")
        await run("read: extra JSON frame after request", P_READ, jf({"object_id": empty_oid}) + jf({}), "? (server reads nothing more)")
        await run("get_proof: missing version", P_PROOF, jf({"object_id": oid, "shard_id": f.shard_id(oid, 1, 0)}), "INVALID_INPUT")
        await run("get_proof: never written", P_PROOF, jf({"object_id": empty_oid, "version": 1, "shard_id": f.shard_id(empty_oid, 1, 0)}), "Failure NOT_FOUND")
        await run("list: unknown filter", P_LIST, jf({"filters": {"nope": 1}}), "INVALID_INPUT")
        await run("list: limit 0", P_LIST, jf({"filters": {"limit": 0}}), "INVALID_INPUT")
        await run("list: limit 1001", P_LIST, jf({"filters": {"limit": 1001}}), "INVALID_INPUT")
        await run("list: upper-case prefix", P_LIST, jf({"filters": {"prefix": "AB"}}), "INVALID_INPUT (lower-case hex)")
        await run("list: odd-length prefix", P_LIST, jf({"filters": {"prefix": "abc"}}), "? (at most 64 lower-case hex chars)")
        await run("list: tag not normalized", P_LIST, jf({"filters": {"tag": " Test "}}), "? ('a normalized tag')")
        await run("list: epoch 999", P_LIST, jf({"epoch": 999}), "AEGIS_CONTEXT_MISSING")
        await run("list: empty request", P_LIST, jf({}), "ok, header then END")
        await run("list: after without version", P_LIST, jf({"filters": {"after": {"object_id": oid}}}), "INVALID_INPUT")

        # ---- writes: content accounting and order
        await run("write: fewer bytes than content_size", P_WRITE, jf({"object_id": oid, "version": 1, "content_size": 5, "metadata": meta()}) + frame(T_DATA, b"abc") + END_FRAME, "Failure INVALID_INPUT (wrong byte count)")
        await run("write: more bytes than content_size", P_WRITE, jf({"object_id": oid, "version": 1, "content_size": 2, "metadata": meta()}) + frame(T_DATA, b"abc") + END_FRAME, "Failure INVALID_INPUT (wrong byte count)")
        await run("write: no END, FIN", P_WRITE, jf({"object_id": oid, "version": 1, "content_size": 3, "metadata": meta()}) + frame(T_DATA, b"abc"), "STREAM_ENDED?")
        await run("write: JSON after DATA", P_WRITE, jf({"object_id": oid, "version": 1, "content_size": 3, "metadata": meta()}) + frame(T_DATA, b"abc") + jf({}), "ERROR UNEXPECTED_FRAME")
        await run("write: content_size above limit", P_WRITE, jf({"object_id": oid, "version": 1, "content_size": 64 * 2**30 + 1, "metadata": meta()}), "ERROR CONTENT_TOO_LARGE", close=False, wait=5)
        await run("write: version 0", P_WRITE, write_req(oid, 0, b"abc", meta()), "INVALID_INPUT / INVALID_VERSION?")
        await run("write: version gap (3 before 1)", P_WRITE, write_req(oid, 3, b"abc", meta()), "Failure INVALID_VERSION")
        await run("write: metadata extra key", P_WRITE, write_req(oid, 1, b"abc", meta(extra=1)), "INVALID_METADATA")
        await run("write: metadata missing author", P_WRITE, write_req(oid, 1, b"abc", {"created_at_tick": 1}), "INVALID_METADATA")
        await run("write: upper-case atr_fee_event", P_WRITE, write_req(oid, 1, b"abc", meta(atr_fee_events=["AB" * 32])), "? (ids lower-case)")
        await run("write: 33 tags", P_WRITE, write_req(oid, 1, b"abc", meta(tags=[f"t{i}" for i in range(33)])), "INVALID_METADATA")
        await run("write: 257 atr_fee_events", P_WRITE, write_req(oid, 1, b"abc", meta(atr_fee_events=[f"{i:064x}" for i in range(257)])), "INVALID_METADATA (node limit 256)")
        await run("write: DELETE_MARKER with content", P_WRITE, write_req(oid, 1, b"abc", meta(), kind="DELETE_MARKER"), "INVALID_INPUT (content_size must be 0)")
        await run("write: kind STORE given", P_WRITE, write_req(oid, 1, b"abc", meta(), kind="STORE"), "? (only DELETE_MARKER documented)")
        await run("write: timestamp_tick given", P_WRITE, write_req(f.object_id("py-probe", "ts"), 1, b"abc", meta(), timestamp_tick=99), "ok")
        await run("write: epoch 999", P_WRITE, write_req(oid, 1, b"abc", meta(), epoch=999), "AEGIS_CONTEXT_MISSING")
        await run("write: DELETE_MARKER as version 1", P_WRITE, write_req(f.object_id("py-probe", "dm1"), 1, b"", meta(), kind="DELETE_MARKER"), "? (kind table: STORE is version 1)")
    return results


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--node", required=True)
    a = p.parse_args()
    asyncio.run(probes(a.node))
    return 0


if __name__ == "__main__":
    sys.exit(main())
