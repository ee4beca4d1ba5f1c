"""libp2p basics for a Python client, from the public specs: unsigned varints (multiformats),
protobuf fields, base58btc and peer ids (libp2p/specs peer-ids/peer-ids.md), Ed25519 identities,
TCP multiaddrs and multistream-select 1.0 (libp2p/specs connections/, multiformats/multistream-select).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class Libp2pError(Exception):
    """The remote does not speak the libp2p stack we expect (client side: NODE_UNAVAILABLE)."""


class StreamReset(Libp2pError):
    pass


class IncomingWhileWriting(Exception):
    """The remote sent something while we were still writing (write(..., stop_on_incoming=True))."""


# ---------------------------------------------------------------- varints, protobuf, base58


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise Libp2pError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def pb_bytes(field: int, data: bytes) -> bytes:
    return uvarint(field << 3 | 2) + uvarint(len(data)) + data


def pb_varint(field: int, value: int) -> bytes:
    return uvarint(field << 3 | 0) + uvarint(value)


def pb_parse(buf: bytes) -> dict[int, list]:
    """Fields of a protobuf message: varint (wire type 0) and length-delimited (2) only."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = read_uvarint(buf, pos)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_uvarint(buf, pos)
        elif wt == 2:
            ln, pos = read_uvarint(buf, pos)
            if pos + ln > len(buf):
                raise Libp2pError("truncated protobuf field")
            v = buf[pos : pos + ln]
            pos += ln
        else:
            raise Libp2pError(f"unsupported protobuf wire type {wt}")
        fields.setdefault(field, []).append(v)
    return fields


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


KEY_TYPE_ED25519 = 1


def ed25519_public_proto(raw: bytes) -> bytes:
    """peer-ids spec: PublicKey { KeyType Type = 1; bytes Data = 2; }, deterministic encoding."""
    return pb_varint(1, KEY_TYPE_ED25519) + pb_bytes(2, raw)


def peer_id_from_public_proto(proto: bytes) -> str:
    # peer-ids spec: keys of at most 42 serialized bytes use the identity multihash (code 0x00)
    if len(proto) <= 42:
        mh = b"\x00" + uvarint(len(proto)) + proto
    else:
        mh = b"\x12\x20" + hashlib.sha256(proto).digest()
    return b58encode(mh)


class Identity:
    """An Ed25519 libp2p identity."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self.key = key or Ed25519PrivateKey.generate()
        self.public_raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_proto = ed25519_public_proto(self.public_raw)
        self.peer_id = peer_id_from_public_proto(self.public_proto)


# ---------------------------------------------------------------- multiaddr


@dataclass
class Multiaddr:
    host: str
    port: int
    peer_id: str | None


def parse_multiaddr(ma: str) -> Multiaddr:
    parts = ma.split("/")
    if len(parts) < 5 or parts[0] != "":
        raise Libp2pError(f"unsupported multiaddr {ma!r}")
    proto, host, tcp, port = parts[1], parts[2], parts[3], parts[4]
    if proto not in ("ip4", "ip6", "dns", "dns4", "dns6") or tcp != "tcp":
        raise Libp2pError(f"only /ip4|ip6|dns*/<host>/tcp/<port> is supported: {ma!r}")
    rest = parts[5:]
    peer = None
    if rest:
        if len(rest) != 2 or rest[0] not in ("p2p", "ipfs"):
            raise Libp2pError(f"unsupported multiaddr suffix in {ma!r}")
        peer = rest[1]
    return Multiaddr(host, int(port), peer)


# ---------------------------------------------------------------- multistream-select 1.0

MSS = "/multistream/1.0.0"


def mss_message(text: str) -> bytes:
    body = (text + "\n").encode("utf-8")
    return uvarint(len(body)) + body


async def mss_read(readexactly) -> str:
    """One multistream-select message: uvarint length, then that many bytes ending in '\\n'."""
    shift = n = 0
    while True:
        b = (await readexactly(1))[0]
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 21:
            raise Libp2pError("multistream-select length prefix too long")
    if n == 0 or n > 65535:
        raise Libp2pError(f"multistream-select message of {n} bytes")
    body = await readexactly(n)
    if not body.endswith(b"\n"):
        raise Libp2pError("multistream-select message without trailing newline")
    return body[:-1].decode("utf-8")


async def mss_select(readexactly, write, protocol: str) -> None:
    """Dialer side: header and proposal in one write, then expect the header and the echo."""
    write(mss_message(MSS) + mss_message(protocol))
    header = await mss_read(readexactly)
    if header != MSS:
        raise Libp2pError(f"remote speaks {header!r}, not {MSS}")
    answer = await mss_read(readexactly)
    if answer != protocol:
        raise Libp2pError(f"remote refused {protocol} ({answer!r})")
