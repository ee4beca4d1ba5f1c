"""yamux (hashicorp/yamux spec.md), client side: 12-byte headers, odd stream ids, 256 KiB
stream windows granted back as the reader takes bytes, pings answered, inbound streams answered
(libp2p ping echoed, anything else refused with multistream-select "na").
"""

from __future__ import annotations

import asyncio
import struct

from noise_xx import SecureConnection
from p2p_base import MSS, IncomingWhileWriting, Libp2pError, StreamReset, mss_message, mss_read, mss_select


# ---------------------------------------------------------------- yamux (hashicorp spec.md)

Y_DATA, Y_WINDOW, Y_PING, Y_GOAWAY = 0, 1, 2, 3
F_SYN, F_ACK, F_FIN, F_RST = 1, 2, 4, 8
INITIAL_WINDOW = 256 * 1024
MAX_DATA_FRAME = 64 * 1024


class YamuxStream:
    def __init__(self, session: "YamuxSession", sid: int) -> None:
        self.session = session
        self.id = sid
        self.buf = bytearray()
        self.recv_window = INITIAL_WINDOW  # what the remote may still send us
        self.consumed = 0  # bytes taken by the reader and not yet granted back
        self.send_window = INITIAL_WINDOW
        self.remote_closed = False
        self.reset = False
        self.local_closed = False
        self.readable = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()

    # ---- receive side
    def _on_data(self, data: bytes) -> None:
        if len(data) > self.recv_window:
            self.session._protocol_error(f"stream {self.id}: remote exceeded our window")
            return
        self.recv_window -= len(data)
        self.buf += data
        self.readable.set()
        self.writable.set()  # wakes a writer waiting for window that must stop on incoming bytes

    def has_incoming(self) -> bool:
        return bool(self.buf) or self.remote_closed or self.reset

    async def read_some(self, maxn: int = 1 << 20) -> bytes:
        """Up to maxn bytes; b"" once the remote closed its side. Grants window as bytes are taken."""
        while not self.buf:
            if self.reset:
                raise StreamReset(f"stream {self.id} was reset")
            if self.remote_closed:
                return b""
            if self.session.closed:
                raise Libp2pError("connection closed")
            self.readable.clear()
            await self.readable.wait()
        out = bytes(self.buf[:maxn])
        del self.buf[: len(out)]
        self.consumed += len(out)
        if self.consumed >= INITIAL_WINDOW // 2 and not self.reset:
            self.session._send_frame(Y_WINDOW, 0, self.id, self.consumed)
            self.recv_window += self.consumed
            self.consumed = 0
        return out

    async def readexactly(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = await self.read_some(n - len(out))
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(out), n)
            out += chunk
        return bytes(out)

    # ---- send side
    async def write(self, data: bytes, stop_on_incoming: bool = False) -> None:
        view = memoryview(data)
        while view:
            if stop_on_incoming and self.has_incoming():
                raise IncomingWhileWriting()
            if self.reset:
                raise StreamReset(f"stream {self.id} was reset")
            if self.session.closed:
                raise Libp2pError("connection closed")
            if self.send_window == 0:
                self.writable.clear()
                await self.writable.wait()
                continue
            n = min(len(view), self.send_window, MAX_DATA_FRAME)
            self.session._send_frame(Y_DATA, 0, self.id, n, bytes(view[:n]))
            self.send_window -= n
            view = view[n:]
            await self.session.drain()

    def write_nowait(self, data: bytes) -> None:
        """For small control messages that fit the initial window (multistream-select)."""
        if len(data) > self.send_window:
            raise Libp2pError("control message larger than the send window")
        self.session._send_frame(Y_DATA, 0, self.id, len(data), data)
        self.send_window -= len(data)

    async def close_write(self) -> None:
        if not self.local_closed and not self.reset:
            self.local_closed = True
            self.session._send_frame(Y_DATA, F_FIN, self.id, 0)
            if self.remote_closed:
                self.session.streams.pop(self.id, None)
            await self.session.drain()

    def abort(self) -> None:
        """Reset the stream (yamux RST)."""
        if not self.reset:
            self.reset = True
            self.session._send_frame(Y_WINDOW, F_RST, self.id, 0)
            self.readable.set()
            self.writable.set()
        self.session.streams.pop(self.id, None)


class YamuxSession:
    """Client side of a yamux session over a SecureConnection (odd stream ids)."""

    def __init__(self, conn: SecureConnection) -> None:
        self.conn = conn
        self.streams: dict[int, YamuxStream] = {}
        self.next_id = 1
        self.closed = False
        self.error: str | None = None
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        self._inbound_tasks: set[asyncio.Task] = set()

    def _send_frame(self, typ: int, flags: int, sid: int, length: int, payload: bytes = b"") -> None:
        if self.closed:
            return
        self.conn.write(struct.pack(">BBHII", 0, typ, flags, sid, length) + payload)

    async def drain(self) -> None:
        await self.conn.drain()

    async def open_stream(self, protocol: str) -> YamuxStream:
        if self.closed:
            raise Libp2pError(f"connection closed ({self.error})")
        sid = self.next_id
        self.next_id += 2
        st = YamuxStream(self, sid)
        self.streams[sid] = st
        self._send_frame(Y_WINDOW, F_SYN, sid, 0)
        try:
            await mss_select(st.readexactly, st.write_nowait, protocol)
        except (Libp2pError, asyncio.IncompleteReadError) as e:
            st.abort()
            raise Libp2pError(f"negotiating {protocol}: {e}") from e
        return st

    def _protocol_error(self, why: str) -> None:
        self.error = why
        self._send_frame(Y_GOAWAY, 0, 0, 1)
        self._shutdown()

    def _shutdown(self) -> None:
        self.closed = True
        for st in list(self.streams.values()):
            st.readable.set()
            st.writable.set()

    async def _read_loop(self) -> None:
        try:
            while True:
                hdr = await self.conn.readexactly(12)
                ver, typ, flags, sid, length = struct.unpack(">BBHII", hdr)
                if ver != 0:
                    self._protocol_error(f"yamux version {ver}")
                    return
                if typ == Y_PING:
                    if flags & F_SYN:
                        self._send_frame(Y_PING, F_ACK, 0, length)
                    continue
                if typ == Y_GOAWAY:
                    self.error = f"remote went away (code {length})"
                    self._shutdown()
                    return
                payload = b""
                if typ == Y_DATA and length:
                    payload = await self.conn.readexactly(length)
                elif typ not in (Y_DATA, Y_WINDOW):
                    self._protocol_error(f"yamux frame type {typ}")
                    return
                st = self.streams.get(sid)
                if flags & F_SYN:
                    if sid % 2 == 1 or st is not None:
                        self._protocol_error(f"bad inbound stream id {sid}")
                        return
                    st = YamuxStream(self, sid)
                    self.streams[sid] = st
                    self._send_frame(Y_WINDOW, F_ACK, sid, 0)
                    t = asyncio.get_running_loop().create_task(self._refuse_inbound(st))
                    self._inbound_tasks.add(t)
                    t.add_done_callback(self._inbound_tasks.discard)
                if st is None:
                    continue  # a frame for a stream we already reset or forgot
                if typ == Y_WINDOW:
                    st.send_window += length
                    st.writable.set()
                elif payload:
                    st._on_data(payload)
                if flags & F_FIN:
                    st.remote_closed = True
                    st.readable.set()
                    st.writable.set()
                if flags & F_RST:
                    st.reset = True
                    st.readable.set()
                    st.writable.set()
                    self.streams.pop(sid, None)
                elif st.remote_closed and st.local_closed and not st.buf:
                    self.streams.pop(sid, None)
        except (asyncio.IncompleteReadError, ConnectionError, Libp2pError) as e:
            self.error = self.error or f"connection lost: {e!r}"
            self._shutdown()

    async def _refuse_inbound(self, st: YamuxStream) -> None:
        """Inbound streams: answer /ipfs/ping/1.0.0 (echo 32-byte payloads, libp2p ping spec) and
        refuse everything else (identify, ...) with "na". The node opens identify and ping streams
        to every client; one that leaves them unanswered has its connection reset (FINDINGS.md)."""
        try:
            header = await mss_read(st.readexactly)
            if header != MSS:
                st.abort()
                return
            st.write_nowait(mss_message(MSS))
            while True:
                proposal = await mss_read(st.readexactly)
                if proposal == "/ipfs/ping/1.0.0":
                    st.write_nowait(mss_message(proposal))
                    while True:
                        payload = await st.readexactly(32)
                        await st.write(payload)
                st.write_nowait(mss_message("na"))
        except (asyncio.IncompleteReadError, Libp2pError):
            await st.close_write()

    async def close(self) -> None:
        if not self.closed:
            self._send_frame(Y_GOAWAY, 0, 0, 0)
            try:
                await self.drain()
            except ConnectionError:
                pass
            self._shutdown()
        self._task.cancel()
        for t in list(self._inbound_tasks):
            t.cancel()
        self.conn.close()
