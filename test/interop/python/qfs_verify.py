"""Client-side checks of what a node answers, from PROTOCOL.md and docs/protocol.md 4.1-4.5."""

from __future__ import annotations

import base64
import binascii

import qfs_formulas as f
from qfs_wire import ProtocolViolation

RECORD_KEYS = {
    "object_id",
    "version",
    "kind",
    "hash_commit",
    "content_size",
    "metadata",
    "schema_version",
    "block_size_bytes",
    "epoch",
    "timestamp_tick",
    "atr_cost",
    "shards",
    "catalogue_homes",
}
SHARD_KEYS = {"shard_index", "shard_id", "length", "leaf_count", "merkle_root", "replicas"}
PROOF_KEYS = {"object_id", "version", "shard_id", "leaf_index", "leaf_count", "block", "leaf_hash", "audit_path", "merkle_root"}


class VerifyError(Exception):
    """Bytes or answers that do not match their commitments (the client's INTEGRITY_MISMATCH)."""


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise VerifyError(what)


def check_record(rec: dict) -> None:
    """A VersionRecord (4.1) consistent with PROTOCOL.md's formulas."""
    if not isinstance(rec, dict) or set(rec) != RECORD_KEYS:
        raise ProtocolViolation(f"VersionRecord keys {sorted(rec) if isinstance(rec, dict) else rec!r}")
    oid, version, size = rec["object_id"], rec["version"], rec["content_size"]
    _need(f.is_id(oid) and f.is_count(version) and version >= 1, "record object_id/version")
    _need(rec["kind"] in ("STORE", "UPDATE", "DELETE_MARKER"), f"record kind {rec['kind']!r}")
    if rec["kind"] != "DELETE_MARKER":
        _need(rec["kind"] == ("STORE" if version == 1 else "UPDATE"), f"kind {rec['kind']} for version {version}")
    _need(f.normalize_metadata(rec["metadata"]) == rec["metadata"], "record metadata is not in normal form")
    bs = rec["block_size_bytes"]
    _need(f.is_count(bs) and bs >= 1, "block_size_bytes")
    shards = rec["shards"]
    _need(isinstance(shards, list) and len(shards) >= 1, "record shards")
    ranges = f.shard_ranges(size, len(shards))
    for i, sh in enumerate(shards):
        if set(sh) != SHARD_KEYS:
            raise ProtocolViolation(f"ShardDescriptor keys {sorted(sh)}")
        _need(sh["shard_index"] == i, f"shard {i} index")
        _need(sh["shard_id"] == f.shard_id(oid, version, i), f"shard {i} id is not H(object_id:version:index)")
        _need(sh["length"] == ranges[i][1] - ranges[i][0], f"shard {i} length {sh['length']} != formula {ranges[i]}")
        _need(sh["leaf_count"] == f.leaf_count(sh["length"], bs), f"shard {i} leaf_count")
        if sh["length"] == 0:
            _need(sh["merkle_root"] == f.H(b"").hex(), f"empty shard {i} root is not H('')")
        _need(isinstance(sh["replicas"], list) and len(set(sh["replicas"])) == len(sh["replicas"]), f"shard {i} replicas")
    _need(rec["atr_cost"] == f.atr_cost(size, len(shards), len(shards[0]["replicas"])), f"record atr_cost {rec['atr_cost']}")


class ReadVerifier:
    """Streams content through the checks of docs/protocol.md 4.3 "Verifying a read"."""

    def __init__(self, header: dict) -> None:
        rec = header["record"]
        check_record(rec)
        for k in ("object_id", "version", "kind", "hash_commit", "content_size"):
            _need(header[k] == rec[k], f"header {k} {header[k]!r} != record {rec[k]!r}")
        _need(header["metadata"] == rec["metadata"], "header metadata != record metadata")
        self.rec = rec
        self.bs = rec["block_size_bytes"]
        self.shards = rec["shards"]
        self.hc = f.HashCommit()
        self.pos = 0
        self.shard = 0
        self.in_shard = 0
        self.block = bytearray()
        self.leaves: list[bytes] = []
        self._skip_empty()

    def _skip_empty(self) -> None:
        while self.shard < len(self.shards) and self.in_shard == self.shards[self.shard]["length"]:
            self._end_shard()

    def _end_shard(self) -> None:
        sh = self.shards[self.shard]
        if self.block:
            self.leaves.append(f.leaf_hash(bytes(self.block)))
            self.block.clear()
        _need(len(self.leaves) == sh["leaf_count"], f"shard {self.shard}: {len(self.leaves)} blocks")
        root = f.merkle_root(self.leaves).hex()
        _need(root == sh["merkle_root"], f"shard {self.shard}: Merkle root {root} != record {sh['merkle_root']}")
        self.leaves = []
        self.shard += 1
        self.in_shard = 0

    def feed(self, data: bytes) -> None:
        _need(self.pos + len(data) <= self.rec["content_size"], "more content than content_size")
        self.hc.update(data)
        self.pos += len(data)
        view = memoryview(data)
        while view:
            sh = self.shards[self.shard]
            take = min(len(view), sh["length"] - self.in_shard, self.bs - len(self.block))
            self.block += view[:take]
            view = view[take:]
            self.in_shard += take
            if len(self.block) == self.bs:
                self.leaves.append(f.leaf_hash(bytes(self.block)))
                self.block.clear()
            self._skip_empty()

    def finish(self, trailer: dict) -> None:
        _need(self.pos == self.rec["content_size"], f"got {self.pos} of {self.rec['content_size']} bytes")
        self._skip_empty()
        _need(self.shard == len(self.shards), "content ended inside a shard")
        seed = f.metadata_seed(self.rec["metadata"])
        got = self.hc.finish(self.rec["schema_version"], seed)
        _need(got == self.rec["hash_commit"], f"hash_commit {got} != record {self.rec['hash_commit']}")
        if set(trailer) != {"ok", "proofs"} or trailer["ok"] is not True:
            raise ProtocolViolation(f"read trailer keys {sorted(trailer)}")
        proofs = trailer["proofs"]
        _need(isinstance(proofs, list) and len(proofs) == len(self.shards), "trailer proofs: one per shard")
        for i, (p, sh) in enumerate(zip(proofs, self.shards)):
            if set(p) != {"shard_id", "shard_index", "merkle_root", "leaf_count", "served_by"}:
                raise ProtocolViolation(f"trailer proof keys {sorted(p)}")
            _need(p["shard_index"] == i and p["shard_id"] == sh["shard_id"], f"trailer proof {i} id")
            _need(p["merkle_root"] == sh["merkle_root"] and p["leaf_count"] == sh["leaf_count"], f"trailer proof {i} root")
            if sh["length"] == 0:
                _need(p["served_by"] is None, f"trailer proof {i}: empty shard served_by not null")
            else:
                _need(p["served_by"] in sh["replicas"], f"trailer proof {i}: served_by not a replica")


def check_write_answer(ans: dict, req: dict, my_hash_commit: str, num_shards: int = f.NUM_SHARDS_PER_OBJECT) -> None:
    """A StoreResponse (4.2) against what we sent and what we computed."""
    keys = {"ok", "object_id", "version", "kind", "hash_commit", "content_size", "shard_ids", "replica_sets", "atr_cost", "under_replicated", "storage_event_id"}
    if set(ans) != keys:
        raise ProtocolViolation(f"write answer keys {sorted(ans)}")
    _need(ans["object_id"] == req["object_id"] and ans["version"] == req["version"], "write answer id/version")
    _need(ans["content_size"] == req["content_size"], "write answer content_size")
    want_kind = req.get("kind") or ("STORE" if req["version"] == 1 else "UPDATE")
    _need(ans["kind"] == want_kind, f"write answer kind {ans['kind']} (expected {want_kind})")
    _need(ans["hash_commit"] == my_hash_commit, f"hash_commit {ans['hash_commit']} != ours {my_hash_commit}")
    ids = [f.shard_id(req["object_id"], req["version"], i) for i in range(num_shards)]
    _need(ans["shard_ids"] == ids, "shard_ids are not H(object_id:version:i)")
    _need(set(ans["replica_sets"]) == set(ids), "replica_sets keys != shard_ids")
    rf = len(next(iter(ans["replica_sets"].values())))
    _need(ans["atr_cost"] == f.atr_cost(req["content_size"], num_shards, rf), f"atr_cost {ans['atr_cost']}")
    _need(f.is_id(ans["storage_event_id"]), "storage_event_id")


def check_placement(replica_sets: dict, eligible: list[str], rf: int) -> None:
    for sid, nodes in replica_sets.items():
        want = f.placement(sid, eligible, rf)
        _need(nodes == want, f"shard {sid[:8]}: replicas {nodes} != placement {want}")


def verify_proof(ans: dict, req: dict, rec: dict, challenge: int | None = None) -> dict:
    """A get_proof answer (4.4) against the record's root, never the proof's own (RFC 9162 §2.1.3.2)."""
    keys = {"ok", "object_id", "version", "shard_id", "merkle_root", "proof", "assigned_nodes", "answered_by", "storage_event_id"}
    if set(ans) != keys:
        raise ProtocolViolation(f"get_proof answer keys {sorted(ans)}")
    p = ans["proof"]
    if set(p) != PROOF_KEYS:
        raise ProtocolViolation(f"StorageProof keys {sorted(p)}")
    check_record(rec)
    sh = next((s for s in rec["shards"] if s["shard_id"] == req["shard_id"]), None)
    _need(sh is not None, "shard_id is not a shard of the record")
    for k in ("object_id", "version", "shard_id"):
        _need(ans[k] == req[k] and p[k] == req[k], f"proof {k}")
    _need(p["leaf_count"] == sh["leaf_count"], "proof leaf_count != record")
    if "leaf_index" in req:
        _need(p["leaf_index"] == req["leaf_index"], "proof leaf_index != requested")
    if challenge is not None:
        _need(p["leaf_index"] == challenge, f"proof leaf_index {p['leaf_index']} != challenge_index {challenge}")
    try:
        block = base64.b64decode(p["block"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerifyError("proof block is not standard base64") from e
    _need(base64.b64encode(block).decode() == p["block"], "proof block base64 is not canonical (padding)")
    bs = rec["block_size_bytes"]
    start = p["leaf_index"] * bs
    _need(len(block) == min(bs, sh["length"] - start), f"proof block of {len(block)} bytes")
    leaf = f.leaf_hash(block)
    _need(leaf.hex() == p["leaf_hash"], "leaf_hash != H(0x00 || block)")
    path = p["audit_path"]
    _need(isinstance(path, list) and len(path) <= 32 and all(f.is_id(x) for x in path), "audit_path")
    ok = f.verify_inclusion(p["leaf_index"], sh["leaf_count"], leaf, [bytes.fromhex(x) for x in path], bytes.fromhex(sh["merkle_root"]))
    _need(ok, "audit path does not lead to the record's root")
    _need(ans["merkle_root"] == sh["merkle_root"] and p["merkle_root"] == sh["merkle_root"], "proof root != record root")
    _need(ans["assigned_nodes"] == sh["replicas"], "assigned_nodes != record replicas")
    _need(ans["answered_by"] in sh["replicas"], "answered_by is not a replica")
    return {"verified": True, "leaf_index": p["leaf_index"], "leaf_count": p["leaf_count"], "block_bytes": len(block)}
