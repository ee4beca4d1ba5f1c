"""QFS storage frames (docs/protocol.md section 2) over a yamux stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import qfs_formulas as f
from libp2p_min import StreamReset, YamuxStream, uvarint

T_JSON, T_DATA, T_END, T_ERROR, T_KEEPALIVE = 1, 2, 3, 4, 5
MAX_FRAME_BYTES = 1_048_577
MAX_DATA_PAYLOAD = 1_048_576
MAX_REQUEST_JSON_FRAME_BYTES = 262_145
MAX_JSON_DEPTH = 32
ERROR_KEYS = {"code", "error_code", "error_detail"}
SE_ERR_CODES = {
    "SE_ERR_NOT_FOUND",
    "SE_ERR_INVALID_VERSION",
    "SE_ERR_INVALID_INPUT",
    "SE_ERR_NO_ELIGIBLE_NODES",
    "SE_ERR_PROOF_UNAVAILABLE",
    "SE_ERR_INTEGRITY_MISMATCH",
    "SE_ERR_AEGIS_CONTEXT_MISSING",
    "SE_ERR_INTERNAL",
}


class ProtocolViolation(Exception):
    """The node sent something docs/protocol.md does not allow (a finding, or a client bug)."""


class QfsRemoteError(Exception):
    """The node refused: an ERROR frame (section 2) or a Failure answer (section 4.1)."""

    def __init__(self, code: str, error_code: str, detail: str, via: str, storage_event_id: str | None = None) -> None:
        super().__init__(f"[{code} / {error_code}] {detail} ({via})")
        self.code = code
        self.error_code = error_code
        self.detail = detail
        self.via = via
        self.storage_event_id = storage_event_id


def frame(ftype: int, payload: bytes = b"") -> bytes:
    body = bytes([ftype]) + payload
    return uvarint(len(body)) + body


def json_frame(obj: dict) -> bytes:
    return frame(T_JSON, f.jcs_bytes(obj))


END_FRAME = frame(T_END)


def _no_float(text: str) -> Any:
    raise ProtocolViolation(f"non-integer number {text!r} in a JSON frame")


def _no_dupes(pairs: list) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ProtocolViolation(f"duplicate key {k!r} in a JSON frame")
        out[k] = v
    return out


def _depth(payload: bytes) -> int:
    depth = best = 0
    in_str = esc = False
    for b in payload:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:
                esc = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):
            depth += 1
            best = max(best, depth)
        elif b in (0x5D, 0x7D):
            depth -= 1
    return best


def parse_json_payload(payload: bytes) -> dict:
    """Section 2: UTF-8, an object, byte-for-byte its RFC 8785 form, at most 32 levels deep."""
    if _depth(payload) > MAX_JSON_DEPTH:
        raise ProtocolViolation("JSON frame nested deeper than 32 levels")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolViolation("JSON frame is not UTF-8") from e
    try:
        obj = json.loads(text, parse_float=_no_float, parse_constant=_no_float, object_pairs_hook=_no_dupes)
    except json.JSONDecodeError as e:
        raise ProtocolViolation(f"JSON frame is not JSON: {e}") from e
    if not isinstance(obj, dict):
        raise ProtocolViolation("JSON frame is not an object")
    if f.jcs(obj) != text:
        raise ProtocolViolation(f"JSON frame is not canonical (RFC 8785): {text[:200]}")
    return obj


def parse_error_payload(payload: bytes) -> QfsRemoteError:
    obj = parse_json_payload(payload)
    if set(obj) != ERROR_KEYS:
        raise ProtocolViolation(f"ERROR frame keys {sorted(obj)}")
    code, error_code, detail = obj["code"], obj["error_code"], obj["error_detail"]
    if not (isinstance(code, str) and 1 <= len(code) <= 64 and code[0].isupper() and all(c.isupper() or c.isdigit() or c == "_" for c in code) and code.isascii()):
        raise ProtocolViolation(f"ERROR frame code {code!r}")
    if error_code not in SE_ERR_CODES:
        raise ProtocolViolation(f"ERROR frame error_code {error_code!r}")
    if not isinstance(detail, str) or len(detail) > 1024:
        raise ProtocolViolation("ERROR frame error_detail is not a string of at most 1024 characters")
    return QfsRemoteError(code, error_code, detail, "ERROR frame")


class FrameStream:
    """Frames in both directions on one yamux stream."""

    def __init__(self, stream: YamuxStream, idle_timeout: float = 30.0) -> None:
        self.stream = stream
        self.idle = idle_timeout
        self._buf = bytearray()
        self._eof = False

    async def _more(self) -> bool:
        if self._eof:
            return False
        chunk = await asyncio.wait_for(self.stream.read_some(), self.idle)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def next_frame(self) -> tuple[int, bytes] | None:
        """The next frame, or None when the stream ended cleanly at a frame boundary."""
        # length prefix: minimal unsigned LEB128, at most 4 bytes, checked before the body is read
        n = shift = 0
        i = 0
        while True:
            while len(self._buf) <= i:
                if not await self._more():
                    if i == 0 and not self._buf:
                        return None
                    raise ProtocolViolation("stream ended inside a frame")
            b = self._buf[i]
            n |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
            if i >= 4:
                raise ProtocolViolation("frame length prefix longer than 4 bytes")
        if i > 1 and self._buf[i - 1] == 0:
            raise ProtocolViolation("non-minimal frame length varint")
        if n == 0:
            raise ProtocolViolation("frame of length 0")
        if n > MAX_FRAME_BYTES:
            raise ProtocolViolation(f"frame of {n} bytes > MAX_FRAME_BYTES")
        while len(self._buf) < i + n:
            if not await self._more():
                raise ProtocolViolation("stream ended inside a frame")
        body = bytes(self._buf[i : i + n])
        del self._buf[: i + n]
        ftype, payload = body[0], body[1:]
        if ftype == T_DATA and not payload:
            raise ProtocolViolation("empty DATA frame")
        if ftype == T_END and payload:
            raise ProtocolViolation("END frame with a payload")
        if ftype not in (T_JSON, T_DATA, T_END, T_ERROR):
            raise ProtocolViolation(f"unknown frame type {ftype:#04x}")
        return ftype, payload

    async def expect_json(self, what: str) -> dict:
        """A JSON frame; an ERROR frame raises QfsRemoteError; anything else is a violation."""
        fr = await self.next_frame()
        if fr is None:
            raise ProtocolViolation(f"stream ended before the {what}")
        ftype, payload = fr
        if ftype == T_ERROR:
            raise parse_error_payload(payload)
        if ftype != T_JSON:
            raise ProtocolViolation(f"expected the {what} as JSON, got frame type {ftype}")
        return parse_json_payload(payload)

    async def expect_eof(self) -> None:
        fr = await self.next_frame()
        if fr is not None:
            raise ProtocolViolation(f"frame type {fr[0]} after the exchange ended")

    async def send(self, data: bytes, stop_on_incoming: bool = False) -> None:
        await self.stream.write(data, stop_on_incoming)

    async def close_write(self) -> None:
        await self.stream.close_write()

    def reset(self) -> None:
        self.stream.abort()


def raise_if_failure(answer: dict) -> None:
    """Section 4.1 Failure: {"ok": false, code, error_code, error_detail, storage_event_id}."""
    if answer.get("ok") is False:
        keys = {"ok", "code", "error_code", "error_detail", "storage_event_id"}
        if set(answer) != keys:
            raise ProtocolViolation(f"Failure answer keys {sorted(answer)}")
        raise QfsRemoteError(
            answer["code"], answer["error_code"], answer["error_detail"], "Failure answer", answer["storage_event_id"]
        )
    if answer.get("ok") is not True:
        raise ProtocolViolation(f"answer without ok: {sorted(answer)}")


__all__ = [
    "FrameStream",
    "ProtocolViolation",
    "QfsRemoteError",
    "StreamReset",
    "json_frame",
    "frame",
    "END_FRAME",
    "T_DATA",
    "T_END",
    "T_ERROR",
    "T_JSON",
    "raise_if_failure",
]
