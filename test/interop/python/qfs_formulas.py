"""The QFS formulas of /work/shared/spec/PROTOCOL.md, written from that page alone.

Independent of the TypeScript node: SHA3-256 from hashlib, RFC 8785 canonical JSON by hand,
RFC 9162 Merkle trees by the RFC's recursive definitions. Integers only, no floats.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Iterable

HASH_LEN = 32
MAX_SAFE_INTEGER = 2**53 - 1

# PROTOCOL.md "Constants" (governed defaults; a record carries the values it was written with)
BLOCK_SIZE_BYTES = 262144
NUM_SHARDS_PER_OBJECT = 4
REPLICATION_FACTOR = 3
SCHEMA_VERSION = 1
ATR_BASE_STORAGE_COST_PER_KB = 100

HEX_ID = re.compile(r"^[0-9a-f]{64}$")


class FormulaError(Exception):
    """A PROTOCOL.md input refused with one of its codes (INVALID_METADATA, EMPTY_SHARD, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def H(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def lp(data: bytes) -> bytes:
    return u32(len(data)) + data


def is_id(value: Any) -> bool:
    return isinstance(value, str) and HEX_ID.match(value) is not None


def id_bytes(hex_id: str) -> bytes:
    if not is_id(hex_id):
        raise FormulaError("INVALID_INPUT", f"not a 64 lower-case hex id: {hex_id!r}")
    return bytes.fromhex(hex_id)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SAFE_INTEGER


# ---------------------------------------------------------------- RFC 8785 canonical JSON (JCS)

_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


def _jcs_string(s: str) -> str:
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            raise FormulaError("INVALID_INPUT", "lone surrogate in a JSON string")
        if cp in _ESCAPES:
            out.append(_ESCAPES[cp])
        elif cp < 0x20:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(s: str) -> bytes:
    # RFC 8785 §3.2.3: properties sorted by their UTF-16 code units
    return s.encode("utf-16-be", "surrogatepass")


def jcs(value: Any) -> str:
    """RFC 8785 text of a JSON value made of dict/list/str/int/bool/None (no floats: QFS has none)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise FormulaError("INVALID_INPUT", f"integer {value} is beyond 2^53 - 1")
        return str(value)
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise FormulaError("INVALID_INPUT", "JSON object keys must be strings")
        keys = sorted(value.keys(), key=_utf16_key)
        return "{" + ",".join(_jcs_string(k) + ":" + jcs(value[k]) for k in keys) + "}"
    raise FormulaError("INVALID_INPUT", f"not a JSON value QFS uses: {type(value).__name__}")


def jcs_bytes(value: Any) -> bytes:
    return jcs(value).encode("utf-8")


# ---------------------------------------------------------------- identifiers


def object_id(namespace: str, client_id: str) -> str:
    return H(lp(namespace.encode("utf-8")) + lp(client_id.encode("utf-8"))).hex()


def shard_id(obj_id: str, version: int, shard_index: int) -> str:
    id_bytes(obj_id)
    return H(f"{obj_id}:{version}:{shard_index}".encode("utf-8")).hex()


# ---------------------------------------------------------------- metadata

METADATA_KEYS = (
    "author_node_id",
    "created_at_tick",
    "tags",
    "openagi_score",
    "atr_fee_events",
    "aegis_telemetry_stub",
)
STUB_KEYS = {"node_id", "proof_result", "latency_band", "at_epoch"}

# "trim white space": PROTOCOL.md does not say which set. ECMAScript's String.prototype.trim
# (the reference node's language) was our first guess and is wrong: the node keeps U+FEFF and
# removes U+001C..U+001F and U+0085, which is Python's str.strip() (str.isspace), i.e. the QFS
# Python stack's rule. FINDINGS.md records the experiment.
def _trim(s: str) -> str:
    return s.strip()


def _bad(message: str) -> FormulaError:
    return FormulaError("INVALID_METADATA", message)


def _ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def normalize_tag(tag: str) -> str:
    return _ascii_lower(_trim(unicodedata.normalize("NFC", tag)))


def normalize_metadata(meta: Any) -> dict:
    if not isinstance(meta, dict):
        raise _bad("metadata must be an object")
    for k in meta:
        if k not in METADATA_KEYS:
            raise _bad(f"unknown metadata key {k!r}")
    author = meta.get("author_node_id")
    if not isinstance(author, str) or not 1 <= len(author.encode("utf-8", "surrogatepass")) <= 128:
        raise _bad("author_node_id must be a string of 1..128 UTF-8 bytes")
    tick = meta.get("created_at_tick")
    if not is_count(tick):
        raise _bad("created_at_tick must be an integer 0..2^53-1")
    tags_in = meta.get("tags", [])
    if not isinstance(tags_in, list) or not all(isinstance(t, str) for t in tags_in):
        raise _bad("tags must be an array of strings")
    tags = sorted({t for t in (normalize_tag(x) for x in tags_in) if t != ""}, key=lambda t: t.encode())
    if len(tags) > 32 or any(len(t.encode("utf-8")) > 64 for t in tags):
        raise _bad("at most 32 tags of at most 64 UTF-8 bytes")
    score = meta.get("openagi_score", None)
    if score is not None and not (is_count(score) and score <= 1_000_000):
        raise _bad("openagi_score must be an integer 0..1000000 or null")
    events_in = meta.get("atr_fee_events", [])
    if not isinstance(events_in, list) or not all(is_id(e) for e in events_in):
        raise _bad("atr_fee_events must be an array of 64-hex ids")
    events = sorted(set(events_in))
    stub = meta.get("aegis_telemetry_stub", None)
    if stub is not None:
        if not isinstance(stub, dict) or set(stub.keys()) != STUB_KEYS:
            raise _bad("aegis_telemetry_stub must be null or {node_id, proof_result, latency_band, at_epoch}")
        if not isinstance(stub["node_id"], str):
            raise _bad("aegis_telemetry_stub.node_id must be a string")
        if stub["proof_result"] not in ("PASS", "FAIL", "NONE"):
            raise _bad("aegis_telemetry_stub.proof_result must be PASS, FAIL or NONE")
        if not is_count(stub["latency_band"]) or not is_count(stub["at_epoch"]):
            raise _bad("aegis_telemetry_stub latency_band and at_epoch must be integers 0..2^53-1")
        stub = dict(stub)
    return {
        "author_node_id": author,
        "created_at_tick": tick,
        "tags": tags,
        "openagi_score": score,
        "atr_fee_events": events,
        "aegis_telemetry_stub": stub,
    }


def metadata_seed(meta: Any) -> bytes:
    return H(jcs_bytes(normalize_metadata(meta)))


class HashCommit:
    """Streaming H(content || u32(schema_version) || metadata_seed)."""

    def __init__(self) -> None:
        self._h = hashlib.sha3_256()

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def finish(self, schema_version: int, seed: bytes) -> str:
        self._h.update(u32(schema_version))
        self._h.update(seed)
        return self._h.hexdigest()


def hash_commit(content: bytes, schema_version: int, meta: Any) -> str:
    hc = HashCommit()
    hc.update(content)
    return hc.finish(schema_version, metadata_seed(meta))


# ---------------------------------------------------------------- shards, blocks, Merkle (RFC 9162)


def shard_ranges(length: int, num_shards: int = NUM_SHARDS_PER_OBJECT) -> list[tuple[int, int]]:
    s = -(-length // num_shards)
    return [(min(i * s, length), min((i + 1) * s, length)) for i in range(num_shards)]


def leaf_count(shard_length: int, block_size: int = BLOCK_SIZE_BYTES) -> int:
    return -(-shard_length // block_size)


def leaf_hash(block: bytes) -> bytes:
    return H(b"\x00" + block)


def node_hash(left: bytes, right: bytes) -> bytes:
    return H(b"\x01" + left + right)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf hashes; H("") for none (PROTOCOL.md: an empty shard)."""
    n = len(leaves)
    if n == 0:
        return H(b"")
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def audit_path(leaves: list[bytes], m: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return audit_path(leaves[:k], m) + [merkle_root(leaves[k:])]
    return audit_path(leaves[k:], m - k) + [merkle_root(leaves[:k])]


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 verification of an inclusion proof."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def shard_blocks(shard: bytes, block_size: int = BLOCK_SIZE_BYTES) -> list[bytes]:
    return [shard[i : i + block_size] for i in range(0, len(shard), block_size)]


def shard_root(shard: bytes, block_size: int = BLOCK_SIZE_BYTES) -> bytes:
    return merkle_root([leaf_hash(b) for b in shard_blocks(shard, block_size)])


# ---------------------------------------------------------------- placement, challenges, fees


def sort_nodes(nodes: Iterable[str]) -> list[str]:
    return sorted(set(nodes), key=lambda n: n.encode("utf-8"))


def placement(shard: str, eligible: Iterable[str], replication: int = REPLICATION_FACTOR) -> list[str]:
    nodes = sort_nodes(eligible)
    if len(nodes) < replication:
        raise FormulaError("INSUFFICIENT_NODES", f"{len(nodes)} eligible nodes < {replication}")
    start = int.from_bytes(H(id_bytes(shard)), "big") % len(nodes)
    return [nodes[(start + i) % len(nodes)] for i in range(replication)]


def placement_start_index(shard: str, eligible: Iterable[str]) -> int:
    nodes = sort_nodes(eligible)
    return int.from_bytes(H(id_bytes(shard)), "big") % len(nodes)


def catalogue_homes(obj_id: str, eligible: Iterable[str], replication: int = REPLICATION_FACTOR) -> list[str]:
    """Found by experiment (not in PROTOCOL.md; architecture.md's wording suggests a second hash):
    start = int(H(utf8("QFS-CATALOGUE") || raw object_id)) mod len, then as placement."""
    nodes = sort_nodes(eligible)
    if len(nodes) < replication:
        raise FormulaError("INSUFFICIENT_NODES", f"{len(nodes)} eligible nodes < {replication}")
    start = int.from_bytes(H(b"QFS-CATALOGUE" + id_bytes(obj_id)), "big") % len(nodes)
    return [nodes[(start + i) % len(nodes)] for i in range(replication)]


def challenge_seed(epoch: int, snapshot_hash: str) -> bytes:
    return H(b"QFS-CHALLENGE" + u64(epoch) + id_bytes(snapshot_hash))


def challenge_index(epoch: int, snapshot_hash: str, shard: str, leaves: int) -> int:
    if leaves == 0:
        raise FormulaError("EMPTY_SHARD", "an empty shard cannot be challenged")
    seed = challenge_seed(epoch, snapshot_hash)
    return int.from_bytes(H(seed + id_bytes(shard)), "big") % leaves


ONE = 10**18


def bignum_text(raw: int) -> str:
    return f"{raw // ONE}.{raw % ONE:018d}"


def atr_cost(content_size: int, num_shards: int = NUM_SHARDS_PER_OBJECT, replication: int = REPLICATION_FACTOR) -> str:
    kib = max(1, -(-content_size // 1024))
    raw = ATR_BASE_STORAGE_COST_PER_KB * ONE * kib * (num_shards * replication) // 12
    return bignum_text(raw)


# ---------------------------------------------------------------- the vectors' content generator


def sha3_stream(seed: str, length: int) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < length:
        out += H(seed.encode("utf-8") + u64(i))
        i += 1
    return bytes(out[:length])


def vector_content(spec: dict) -> bytes:
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return sha3_stream(spec["sha3_stream"], spec["length"])
