"""Noise XX_25519_ChaChaPoly_SHA256 (noiseprotocol.org rev 34), initiator side, with the libp2p
handshake payload (libp2p/specs noise/README.md): identity key and a signature over
"noise-libp2p-static-key:" || static key; messages framed by a 2-byte big-endian length.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from p2p_base import (
    KEY_TYPE_ED25519,
    Identity,
    Libp2pError,
    ed25519_public_proto,
    pb_bytes,
    pb_parse,
    peer_id_from_public_proto,
)


# ---------------------------------------------------------------- Noise XX (noiseprotocol.org)

PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
NOISE_MAX_MESSAGE = 65535
TAG_LEN = 16
STATIC_KEY_PREFIX = b"noise-libp2p-static-key:"


def _hkdf(ck: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    temp = hmac.new(ck, ikm, hashlib.sha256).digest()
    out1 = hmac.new(temp, b"\x01", hashlib.sha256).digest()
    out2 = hmac.new(temp, out1 + b"\x02", hashlib.sha256).digest()
    return out1, out2


class CipherState:
    def __init__(self, key: bytes | None = None) -> None:
        self.k = key
        self.n = 0

    def _nonce(self) -> bytes:
        return b"\0\0\0\0" + self.n.to_bytes(8, "little")

    def encrypt(self, ad: bytes, plaintext: bytes) -> bytes:
        if self.k is None:
            return plaintext
        ct = ChaCha20Poly1305(self.k).encrypt(self._nonce(), plaintext, ad)
        self.n += 1
        return ct

    def decrypt(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self.k is None:
            return ciphertext
        try:
            pt = ChaCha20Poly1305(self.k).decrypt(self._nonce(), ciphertext, ad)
        except InvalidTag as e:
            raise Libp2pError("noise: message authentication failed") from e
        self.n += 1
        return pt


class SymmetricState:
    def __init__(self) -> None:
        # protocol name is exactly HASHLEN (32) bytes: h = name, no padding or hashing
        self.h = PROTOCOL_NAME
        self.ck = PROTOCOL_NAME
        self.cs = CipherState()
        self.mix_hash(b"")  # prologue: empty for libp2p

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, k = _hkdf(self.ck, ikm)
        self.cs = CipherState(k)

    def encrypt_and_hash(self, pt: bytes) -> bytes:
        ct = self.cs.encrypt(self.h, pt)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct: bytes) -> bytes:
        pt = self.cs.decrypt(self.h, ct)
        self.mix_hash(ct)
        return pt

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = _hkdf(self.ck, b"")
        return CipherState(k1), CipherState(k2)


def _x25519_raw(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class SecureConnection:
    """A Noise transport: a byte stream over length-prefixed ChaChaPoly messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, send: CipherState, recv: CipherState, remote_peer: str) -> None:
        self.reader = reader
        self.writer = writer
        self.send_cs = send
        self.recv_cs = recv
        self.remote_peer = remote_peer
        self._buf = bytearray()

    async def _fill(self) -> None:
        hdr = await self.reader.readexactly(2)
        (n,) = struct.unpack(">H", hdr)
        ct = await self.reader.readexactly(n)
        self._buf += self.recv_cs.decrypt(b"", ct)

    async def readexactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            await self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def write(self, data: bytes) -> None:
        step = NOISE_MAX_MESSAGE - TAG_LEN
        for i in range(0, len(data), step):
            ct = self.send_cs.encrypt(b"", data[i : i + step])
            self.writer.write(struct.pack(">H", len(ct)) + ct)

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


async def noise_handshake_initiator(reader, writer, identity: Identity, expected_peer: str | None) -> SecureConnection:
    async def read_msg() -> bytes:
        (n,) = struct.unpack(">H", await reader.readexactly(2))
        return await reader.readexactly(n)

    def write_msg(m: bytes) -> None:
        writer.write(struct.pack(">H", len(m)) + m)

    ss = SymmetricState()
    s = X25519PrivateKey.generate()
    e = X25519PrivateKey.generate()
    s_pub = _x25519_raw(s.public_key())
    e_pub = _x25519_raw(e.public_key())

    # -> e   (no payload: the initiator's payload waits for message 3, which has secrecy)
    ss.mix_hash(e_pub)
    msg1 = e_pub + ss.encrypt_and_hash(b"")
    write_msg(msg1)
    await writer.drain()

    # <- e, ee, s, es + responder payload
    msg2 = await read_msg()
    if len(msg2) < 32 + 32 + TAG_LEN + TAG_LEN:
        raise Libp2pError("noise: message 2 too short")
    re_raw = msg2[:32]
    ss.mix_hash(re_raw)
    re = X25519PublicKey.from_public_bytes(re_raw)
    ss.mix_key(e.exchange(re))
    rs_raw = ss.decrypt_and_hash(msg2[32 : 32 + 32 + TAG_LEN])
    rs = X25519PublicKey.from_public_bytes(rs_raw)
    ss.mix_key(e.exchange(rs))
    payload = ss.decrypt_and_hash(msg2[32 + 32 + TAG_LEN :])
    remote_peer = _verify_payload(payload, rs_raw, expected_peer)

    # -> s, se + our payload
    ours = pb_bytes(1, identity.public_proto) + pb_bytes(2, identity.key.sign(STATIC_KEY_PREFIX + s_pub))
    msg3 = ss.encrypt_and_hash(s_pub)
    ss.mix_key(s.exchange(re))
    msg3 += ss.encrypt_and_hash(ours)
    write_msg(msg3)
    await writer.drain()
    send, recv = ss.split()
    return SecureConnection(reader, writer, send, recv, remote_peer)


def _verify_payload(payload: bytes, remote_static: bytes, expected_peer: str | None) -> str:
    fields = pb_parse(payload)
    if 1 not in fields or 2 not in fields:
        raise Libp2pError("noise: handshake payload without identity_key / identity_sig")
    key_fields = pb_parse(fields[1][0])
    if key_fields.get(1, [None])[0] != KEY_TYPE_ED25519 or 2 not in key_fields:
        raise Libp2pError("noise: remote identity is not an Ed25519 key")
    raw = key_fields[2][0]
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(fields[2][0], STATIC_KEY_PREFIX + remote_static)
    except (InvalidSignature, ValueError) as e:
        raise Libp2pError("noise: identity signature over the static key does not verify") from e
    peer = peer_id_from_public_proto(ed25519_public_proto(raw))
    if expected_peer is not None and peer != expected_peer:
        raise Libp2pError(f"dialed {expected_peer} but the remote is {peer}")
    return peer
