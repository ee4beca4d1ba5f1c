"""Check qfs_formulas.py against the public conformance vectors (the kinds a client uses).

Run: python3 test/interop/python/test_vectors.py [path/to/core-public.json]
Also recomputes the byte examples of docs/protocol.md (sections 2 and 6).
Exit 0 when every applicable case passes, 1 otherwise. bignum and nod_rewards are economics a
storage client never computes, so they are counted as skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import qfs_formulas as f
from libp2p_min import uvarint
from qfs_wire import END_FRAME, T_DATA, T_JSON, frame

DEFAULT = Path(__file__).resolve().parents[2] / "vectors" / "core-public.json"  # the copy in test/vectors


def run_case(case: dict) -> dict:
    kind, inp = case["kind"], case["input"]
    if kind == "object_id":
        return {"object_id": f.object_id(inp["namespace"], inp["client_id"])}
    if kind == "metadata_seed":
        norm = f.normalize_metadata(inp["metadata"])
        return {"normalized": norm, "metadata_seed": f.metadata_seed(inp["metadata"]).hex()}
    if kind == "hash_commit":
        content = f.vector_content(inp["content"])
        return {
            "metadata_seed": f.metadata_seed(inp["metadata"]).hex(),
            "hash_commit": f.hash_commit(content, inp["schema_version"], inp["metadata"]),
        }
    if kind == "shard_id":
        return {"shard_id": f.shard_id(inp["object_id"], inp["version"], inp["shard_index"])}
    if kind == "shards":
        content = f.vector_content(inp["content"])
        out = []
        for start, end in f.shard_ranges(len(content)):
            shard = content[start:end]
            out.append(
                {
                    "length": len(shard),
                    "block_count": f.leaf_count(len(shard)),
                    "merkle_root": f.shard_root(shard).hex(),
                }
            )
        return {"shards": out}
    if kind == "merkle_proof":
        shard = f.vector_content(inp["shard_content"])
        leaves = [f.leaf_hash(b) for b in f.shard_blocks(shard)]
        m = inp["leaf_index"]
        path = f.audit_path(leaves, m)
        root = f.merkle_root(leaves)
        if not f.verify_inclusion(m, len(leaves), leaves[m], path, root):
            raise AssertionError("own audit path does not verify")
        return {
            "leaf_count": len(leaves),
            "merkle_root": root.hex(),
            "leaf_hash": leaves[m].hex(),
            "audit_path": [p.hex() for p in path],
        }
    if kind == "placement":
        nodes = inp["eligible_nodes"]
        rf = inp["replication_factor"]
        selected = f.placement(inp["shard_id"], nodes, rf)
        return {
            "eligible_sorted": f.sort_nodes(nodes),
            "start_index": f.placement_start_index(inp["shard_id"], nodes),
            "selected": selected,
        }
    if kind == "challenge":
        idx = f.challenge_index(inp["epoch"], inp["snapshot_hash"], inp["shard_id"], inp["leaf_count"])
        return {"challenge_seed": f.challenge_seed(inp["epoch"], inp["snapshot_hash"]).hex(), "challenge_index": idx}
    if kind == "atr_cost":
        return {"atr_cost": f.atr_cost(inp["content_size"], inp["num_shards"], inp["replication_factor"])}
    raise NotImplementedError(kind)


def doc_examples() -> list[tuple[str, bool]]:
    """The byte examples of docs/protocol.md sections 2 and 6, recomputed."""
    oid = f.object_id("docs", "example")
    record_req = frame(T_JSON, f.jcs_bytes({"object_id": oid, "version": "latest"}))
    write_req = frame(
        T_JSON,
        f.jcs_bytes({"content_size": 3, "metadata": {"author_node_id": "alice", "created_at_tick": 7}, "object_id": oid, "version": 1}),
    )
    return [
        ("END is 01 03", END_FRAME == bytes.fromhex("0103")),
        ('DATA "abc" is 04 02 61 62 63', frame(T_DATA, b"abc") == bytes.fromhex("0402616263")),
        ('{"record":null} is 10 01 7b ...', frame(T_JSON, f.jcs_bytes({"record": None})) == bytes.fromhex("10017b227265636f7264223a6e756c6c7d")),
        ("a 256 KiB DATA frame starts 81 80 10 02", frame(T_DATA, bytes(262144))[:4] == bytes.fromhex("81801002")),
        ("MAX_FRAME_BYTES 1_048_577 is 81 80 40", uvarint(1_048_577) == bytes.fromhex("818040")),
        ("object_id(docs, example) = 2cef64c4...7c45", oid.startswith("2cef64c4") and oid.endswith("7c45")),
        ("its shard 0 of version 1 = 451be99e...bec0", f.shard_id(oid, 1, 0).startswith("451be99e") and f.shard_id(oid, 1, 0).endswith("bec0")),
        ("replica/record request frame: 101 bytes, 64 01 7b 22", len(record_req) == 101 and record_req[:4] == bytes.fromhex("64017b22")),
        ("write request frame: 170 bytes, a8 01 01 7b", len(write_req) == 170 and write_req[:4] == bytes.fromhex("a801017b")),
        ("3-byte write costs 100.000000000000000000", f.atr_cost(3) == "100.000000000000000000"),
    ]


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    doc = json.loads(path.read_text("utf-8"))
    passed = failed = skipped = 0
    for case in doc["cases"]:
        if case["kind"] in ("bignum", "nod_rewards"):
            skipped += 1
            continue
        try:
            got = run_case(case)
            err = None
        except f.FormulaError as e:
            got, err = None, e.code
        if "error" in case:
            ok = err == case["error"]
        else:
            ok = err is None and all(got.get(k) == v for k, v in case["expected"].items())
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {case['id']} {case['kind']}: expected {case.get('expected', case.get('error'))}, got {got or err}")
    print(f"vectors: {passed} passed, {failed} failed, {skipped} skipped (economics)")
    bad = [name for name, ok in doc_examples() if not ok]
    for name in bad:
        print(f"FAIL docs/protocol.md example: {name}")
    print(f"docs/protocol.md byte examples: {len(doc_examples()) - len(bad)} passed, {len(bad)} failed")
    return 0 if failed == 0 and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
