"""A minimal libp2p dialer in Python, written from the public libp2p specs only.

- multistream-select 1.0 (libp2p/specs connections/, multiformats/multistream-select)
- Noise XX_25519_ChaChaPoly_SHA256 (noiseprotocol.org rev 34) with the libp2p handshake payload
  (libp2p/specs noise/README.md): Ed25519 identity, signature over
  "noise-libp2p-static-key:" || static key
- peer ids (libp2p/specs peer-ids/peer-ids.md): identity multihash of the protobuf PublicKey, base58btc
- yamux (hashicorp/yamux spec.md): 12-byte headers, 256 KiB stream windows, window updates, pings

Only what a client needs: it dials, answers inbound pings and refuses other inbound streams
(identify, ...) with "na".
"""

from __future__ import annotations

import asyncio

from noise_xx import noise_handshake_initiator
from p2p_base import (
    Identity,
    IncomingWhileWriting,
    Libp2pError,
    StreamReset,
    mss_select,
    parse_multiaddr,
    uvarint,
)
from yamux import YamuxSession, YamuxStream

__all__ = [
    "Identity",
    "IncomingWhileWriting",
    "Libp2pError",
    "StreamReset",
    "YamuxSession",
    "YamuxStream",
    "dial",
    "parse_multiaddr",
    "uvarint",
]


async def dial(multiaddr: str, identity: Identity | None = None, timeout: float = 10.0) -> YamuxSession:
    """TCP, multistream-select /noise, Noise XX, multistream-select /yamux/1.0.0 (libp2p's upgrade)."""
    ma = parse_multiaddr(multiaddr)
    identity = identity or Identity()

    async def upgrade() -> YamuxSession:
        reader, writer = await asyncio.open_connection(ma.host, ma.port)
        try:
            await mss_select(reader.readexactly, writer.write, "/noise")
            conn = await noise_handshake_initiator(reader, writer, identity, ma.peer_id)
            await mss_select(conn.readexactly, conn.write, "/yamux/1.0.0")
        except BaseException:
            writer.close()
            raise
        return YamuxSession(conn)

    try:
        return await asyncio.wait_for(upgrade(), timeout)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
        raise Libp2pError(f"cannot dial {multiaddr}: {e!r}") from e
