"""A gzip body assembled from pieces, some compressed once and reused.

kube-apiserver calls a webhook through Go's HTTP client with compression left on, so every
review arrives with ``Accept-Encoding: gzip`` and a gzip answer is decoded on its side. A placed
pod's answer is ~35 KB, nearly all of it the runtime's node affinity, the same bytes for every
pod of that runtime; as gzip it is ~2 KB. Compressing 35 KB per review would cost more CPU than
it saves, so the repeated piece is deflated once (``Deflated``) and each answer is the gzip
header, the small per-review pieces as stored (uncompressed) blocks, the reused deflate blocks,
and the trailer. The trailer's CRC-32 of the whole is carried across a reused piece by a
precomputed linear map (CRC-32 is affine in its starting value), not by reading its bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time, unknown OS
_LAST = b"\x01\x00\x00\xff\xff"  # an empty stored block marked final
_STORED_MAX = 65535


@dataclass(frozen=True)
class Deflated:
    """``data`` as raw deflate blocks ending byte-aligned and not final, so that anything may
    follow; with its CRC-32, its length and the map that carries a CRC across it."""

    blocks: bytes
    crc: int
    size: int
    carry: tuple[tuple[int, ...], ...]

    def crc_after(self, crc: int) -> int:
        """CRC-32 of (what gave ``crc``) followed by this piece."""
        t = self.carry
        return (t[0][crc & 0xFF] ^ t[1][(crc >> 8) & 0xFF] ^ t[2][(crc >> 16) & 0xFF]
                ^ t[3][crc >> 24] ^ self.crc)


def deflate_once(data: bytes, level: int = 9) -> Deflated:
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    blocks = comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(len(data))
    base = zlib.crc32(zeros)
    bit = [zlib.crc32(zeros, 1 << i) ^ base for i in range(32)]

    def linear(v: int) -> int:
        out = 0
        i = 0
        while v:
            if v & 1:
                out ^= bit[i]
            v >>= 1
            i += 1
        return out

    carry = tuple(tuple(linear(b << (8 * k)) for b in range(256)) for k in range(4))
    return Deflated(blocks, zlib.crc32(data), len(data), carry)


def _stored(data: bytes) -> list[bytes]:
    out = []
    for at in range(0, len(data), _STORED_MAX):
        chunk = data[at:at + _STORED_MAX]
        out.append(b"\x00" + struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    return out


def gzip_join(parts: Sequence[bytes | Deflated]) -> bytes:
    """One gzip member whose content is the parts in order."""
    out = [_HEADER]
    crc = size = 0
    pending = b""
    for part in parts:
        if isinstance(part, Deflated):
            if pending:
                out += _stored(pending)
                crc, size, pending = zlib.crc32(pending, crc), size + len(pending), b""
            out.append(part.blocks)
            crc, size = part.crc_after(crc), size + part.size
        else:
            pending += part
    if pending:
        out += _stored(pending)
        crc, size = zlib.crc32(pending, crc), size + len(pending)
    out += [_LAST, struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return b"".join(out)


def accepts_gzip(value: bytes) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip (``gzip``, ``x-gzip`` or ``*``, without
    ``q=0``); anything unreadable is read as not."""
    allowed: dict[bytes, bool] = {}
    for item in value.lower().split(b","):
        coding, _, params = item.strip().partition(b";")
        q = 1.0
        for p in params.split(b";"):
            k, _, v = p.strip().partition(b"=")
            if k == b"q":
                try:
                    q = float(v)
                except ValueError:
                    return False
        allowed[coding.strip()] = q > 0
    for name in (b"gzip", b"x-gzip"):
        if name in allowed:
            return allowed[name]
    return allowed.get(b"*", False)
