#!/usr/bin/env python3
"""Metadata normalization: our reading of PROTOCOL.md against the node's, case by case.

    python3 probe_metadata.py --node MULTIADDR

Each case writes a 1-byte object (a fresh object id per run) with the given metadata and compares
the node's normal form (read back) and hash_commit with ours. One JSON line per case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import qfs_formulas as f
import qfs_verify as v
from qfs_client import QfsClient
from qfs_wire import QfsRemoteError

BASE = {"author_node_id": "py-meta", "created_at_tick": 5}

CASES: list[tuple[str, dict]] = [
    ("tag: leading U+001C (Python strip removes, JS trim keeps)", {"tags": ["\x1cfs"]}),
    ("tag: leading U+0085 NEL (Python strip removes, JS trim keeps)", {"tags": ["\x85nel"]}),
    ("tag: leading U+FEFF BOM (JS trim removes, Python strip keeps)", {"tags": ["\ufeffbom"]}),
    ("tag: leading U+180E (Zs before Unicode 6.3)", {"tags": ["\u180emvs"]}),
    ("tag: leading U+200B zero width space (neither trims)", {"tags": ["\u200bzwsp"]}),
    ("tag: U+3000 ideographic space around", {"tags": ["\u3000ideo\u3000"]}),
    ("tag: non-ASCII upper case stays", {"tags": ["ÀB", "STRASSE", "İx"]}),
    ("tag: NFC composes e + U+0301", {"tags": ["e\u0301"]}),
    ("tag: NFC of a singleton (U+212B ANGSTROM SIGN)", {"tags": ["\u212b"]}),
    ("tags: UTF-8 order vs UTF-16 order", {"tags": ["\U0001f600", "\uffff", "\ue000"]}),
    ("tag: 64 bytes after trim, 68 before", {"tags": ["  " + "a" * 64 + "  "]}),
    ("tag: 65 bytes", {"tags": ["a" * 65]}),
    ("tags: 34 given, 32 after dedupe", {"tags": [f"t{i}" for i in range(32)] + ["T0", " t1 "]}),
    ("tag: only white space is dropped", {"tags": ["   ", "x"]}),
    ("author_node_id: 128 UTF-8 bytes (64 x U+00E9)", {"author_node_id": "\u00e9" * 64}),
    ("author_node_id: 129 UTF-8 bytes", {"author_node_id": "a" + "\u00e9" * 64}),
    ("author_node_id: only a space", {"author_node_id": " "}),
    ("created_at_tick: 2^53 - 1", {"created_at_tick": 2**53 - 1}),
    ("openagi_score: 0", {"openagi_score": 0}),
    ("aegis stub: node_id 128 bytes", {"aegis_telemetry_stub": {"node_id": "n" * 128, "proof_result": "NONE", "latency_band": 0, "at_epoch": 0}}),
    ("aegis stub: node_id 129 bytes", {"aegis_telemetry_stub": {"node_id": "n" * 129, "proof_result": "NONE", "latency_band": 0, "at_epoch": 0}}),
    ("aegis stub: node_id empty", {"aegis_telemetry_stub": {"node_id": "", "proof_result": "PASS", "latency_band": 1, "at_epoch": 2}}),
    ("atr_fee_events: duplicates, unsorted", {"atr_fee_events": ["ff" * 32, "00" * 32, "ff" * 32]}),
    ("explicit nulls and empties", {"tags": [], "openagi_score": None, "atr_fee_events": [], "aegis_telemetry_stub": None}),
    ("string with control char and U+2028", {"author_node_id": "a\tb\u2028c\x7f"}),
]


async def main(node: str) -> int:
    run = os.urandom(4).hex()
    mismatches = 0
    async with QfsClient(node) as c:
        for i, (name, extra) in enumerate(CASES):
            meta = {**BASE, **extra}
            oid = f.object_id("py-meta", f"{run}-{i}")
            row: dict = {"case": name}
            try:
                ours = f.normalize_metadata(meta)
                row["ours"] = ours
            except f.FormulaError as e:
                ours = None
                row["ours"] = f"refused {e.code}"
            req = {"object_id": oid, "version": 1, "content_size": 1, "metadata": meta}
            try:
                ans = await c.write(req, b"x")
                row["node"] = "accepted"
                got = await c.read(oid, 1, None)
                theirs = got["header"]["metadata"]
                row["node_normal_form"] = theirs
                row["agree"] = ours == theirs
            except QfsRemoteError as e:
                row["node"] = f"refused {e.code} ({e.via}): {e.detail}"
                # docs/protocol.md 4.1 "Node limits": refusals beyond PROTOCOL.md, documented
                row["agree"] = ours is None or (e.code == "INVALID_METADATA" and "(node limit)" in e.detail)
            except v.VerifyError as e:
                # the node accepted but its hash_commit differs from ours: normalizations differ
                row["node"] = f"accepted, but {e}"
                row["agree"] = False
            except Exception as e:
                row["node"] = f"client-side: {e!r}"
                row["agree"] = False
            if not row["agree"]:
                mismatches += 1
            print(json.dumps(row, ensure_ascii=True), flush=True)
    print(json.dumps({"mismatches": mismatches, "cases": len(CASES)}))
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--node", required=True)
    sys.exit(asyncio.run(main(p.parse_args().node)))
