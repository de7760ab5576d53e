"""Minimal PNG writing and reading with the standard library only (zlib, struct).

Enough for the Teams app icons: 8-bit RGB or RGBA, not interlaced. `read_png` also checks every chunk's CRC,
so a damaged file fails loudly instead of decoding to garbage.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPE_RGB = 2
COLOR_TYPE_RGBA = 6
_CHANNELS = {COLOR_TYPE_RGB: 3, COLOR_TYPE_RGBA: 4}

Pixel = tuple[int, int, int, int]  # red, green, blue, alpha (0-255)


class PngError(ValueError):
    """The bytes are not a PNG this module can read."""


@dataclass(frozen=True)
class Header:
    """The IHDR chunk."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int

    @property
    def has_alpha(self) -> bool:
        """True for colour types with an alpha channel (4 grey+alpha, 6 RGBA)."""
        return self.color_type in (4, 6)


@dataclass(frozen=True)
class Image:
    """Decoded pixels, row by row, as RGBA tuples (alpha 255 for RGB images)."""

    header: Header
    pixels: tuple[tuple[Pixel, ...], ...]

    def all_pixels(self) -> list[Pixel]:
        """Every pixel, row after row."""
        return [p for row in self.pixels for p in row]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rows: list[list[Pixel]], *, alpha: bool) -> bytes:
    """PNG bytes for `rows` of RGBA pixels; `alpha=False` writes RGB (colour type 2) and drops alpha."""
    height = len(rows)
    width = len(rows[0]) if rows else 0
    if not height or not width or any(len(row) != width for row in rows):
        raise ValueError("rows must be a non-empty rectangle")
    color_type = COLOR_TYPE_RGBA if alpha else COLOR_TYPE_RGB
    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter type None
        for r, g, b, a in row:
            raw.extend((r, g, b, a) if alpha else (r, g, b))
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b"")


def read_header(data: bytes) -> Header:
    """The IHDR of PNG `data` (the first chunk, as the PNG specification requires)."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file (bad signature)")
    if len(data) < 33:
        raise PngError("PNG file is truncated")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise PngError("the first PNG chunk is not IHDR")
    width, height, depth, color_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return Header(width, height, depth, color_type, interlace)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(data: bytes) -> Image:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (all five filter types), checking chunk CRCs."""
    header = read_header(data)
    if header.bit_depth != 8 or header.color_type not in _CHANNELS or header.interlace != 0:
        raise PngError(f"unsupported PNG: bit depth {header.bit_depth}, colour type {header.color_type}, "
                       f"interlace {header.interlace}")
    pos = len(SIGNATURE)
    idat = bytearray()
    while pos < len(data):
        if pos + 12 > len(data):
            raise PngError("PNG file is truncated")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise PngError(f"bad CRC in PNG chunk {kind!r}")
        if kind == b"IDAT":
            idat.extend(body)
        pos += 12 + length
        if kind == b"IEND":
            break
    channels = _CHANNELS[header.color_type]
    stride = header.width * channels
    raw = zlib.decompress(bytes(idat))
    if len(raw) != header.height * (stride + 1):
        raise PngError("PNG image data has the wrong size")
    rows: list[tuple[Pixel, ...]] = []
    previous = bytearray(stride)
    for y in range(header.height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
            elif kind != 0:
                raise PngError(f"unknown PNG filter type {kind}")
        row: list[Pixel] = []
        for x in range(header.width):
            px = line[x * channels:(x + 1) * channels]
            row.append((px[0], px[1], px[2], px[3] if channels == 4 else 255))
        rows.append(tuple(row))
        previous = line
    return Image(header, tuple(rows))


def read_png_file(path: Path) -> Image:
    """`read_png` of a file."""
    return read_png(path.read_bytes())
