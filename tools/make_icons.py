"""Draw the Teams app icons: `manifest/color.png` (192x192) and `manifest/outline.png` (32x32).

The picture is an envelope with a "no entry" badge: mail that cannot be sent. It is drawn from a few
geometric shapes with 4x4 supersampling (anti-aliased edges) and written with `tools.png` (standard library
only), so the icons are reproducible and nothing is downloaded:

    .venv/bin/python -m tools.make_icons            # rewrite both icons
    .venv/bin/python -m tools.make_icons --check    # exit 1 if the files differ from what this draws

Teams' rules (https://learn.microsoft.com/en-us/microsoftteams/platform/concepts/build-and-test/apps-package):
the colour icon is 192x192 and may use any colours; the outline icon is 32x32, white on a transparent
background. Here the outline icon has only white pixels (of varying alpha, for smooth edges) and fully
transparent ones.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path

from tools.png import Pixel, encode_png, read_png, read_png_file

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_DIR = ROOT / "manifest"
COLOR_SIZE = 192
OUTLINE_SIZE = 32
# The manifest's accentColor and the colour icon's background.
ACCENT = (0x2D, 0x5A, 0x9E)
BADGE_RED = (0xC4, 0x31, 0x4B)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # per axis, per pixel

# The drawing, in a unit square (x right, y down).
_STROKE = 0.08
_ENV = (0.04, 0.16, 0.84, 0.74)  # envelope x0, y0, x1, y1
_FLAP_TIP = (0.44, 0.48)
_BADGE = (0.745, 0.725)  # centre of the "no entry" badge
_RING = 0.175  # radius of the middle of its ring
_GAP = 0.06  # clear space between the badge and the envelope


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _rect_border_distance(px: float, py: float, x0: float, y0: float, x1: float, y1: float) -> float:
    if x0 <= px <= x1 and y0 <= py <= y1:
        return min(px - x0, x1 - px, py - y0, y1 - py)
    return math.hypot(max(x0 - px, 0.0, px - x1), max(y0 - py, 0.0, py - y1))


def envelope(px: float, py: float) -> bool:
    """The envelope's outline and flap, minus the space kept around the badge."""
    if math.hypot(px - _BADGE[0], py - _BADGE[1]) < _RING + _STROKE / 2 + _GAP:
        return False
    half = _STROKE / 2
    x0, y0, x1, y1 = _ENV
    return (_rect_border_distance(px, py, x0, y0, x1, y1) <= half
            or _segment_distance(px, py, x0, y0, *_FLAP_TIP) <= half
            or _segment_distance(px, py, x1, y0, *_FLAP_TIP) <= half)


def badge_disc(px: float, py: float) -> bool:
    """The badge's whole disc (its background in the colour icon)."""
    return math.hypot(px - _BADGE[0], py - _BADGE[1]) <= _RING + _STROKE / 2


def badge_sign(px: float, py: float) -> bool:
    """The badge's ring and its diagonal bar."""
    cx, cy = _BADGE
    if abs(math.hypot(px - cx, py - cy) - _RING) <= _STROKE / 2:
        return True
    reach = _RING * math.sqrt(0.5)
    return _segment_distance(px, py, cx - reach, cy - reach, cx + reach, cy + reach) <= _STROKE / 2


Shape = Callable[[float, float], bool]


def _coverage(shapes: tuple[Shape, ...], x: int, y: int, origin: float, scale: float) -> list[float]:
    """The fraction of pixel (x, y) each shape covers; the unit square maps to origin..origin+scale pixels."""
    hits = [0] * len(shapes)
    for sy in range(SAMPLES):
        v = (y + (sy + 0.5) / SAMPLES - origin) / scale
        for sx in range(SAMPLES):
            u = (x + (sx + 0.5) / SAMPLES - origin) / scale
            for i, shape in enumerate(shapes):
                hits[i] += shape(u, v)
    return [h / (SAMPLES * SAMPLES) for h in hits]


def _over(base: tuple[float, float, float], color: tuple[int, int, int], alpha: float) -> tuple[float, float, float]:
    return (base[0] * (1 - alpha) + color[0] * alpha, base[1] * (1 - alpha) + color[1] * alpha,
            base[2] * (1 - alpha) + color[2] * alpha)


def draw_color() -> list[list[Pixel]]:
    """192x192, opaque: a white envelope and a red-on-white badge on the accent colour."""
    origin, scale = 32.0, 128.0  # the symbol sits in the middle 128x128, as Teams' icon guidance suggests
    rows: list[list[Pixel]] = []
    for y in range(COLOR_SIZE):
        row: list[Pixel] = []
        for x in range(COLOR_SIZE):
            inside = origin - 1 <= x <= origin + scale and origin - 1 <= y <= origin + scale
            env, disc, sign = (_coverage((envelope, badge_disc, badge_sign), x, y, origin, scale) if inside
                               else (0.0, 0.0, 0.0))
            rgb: tuple[float, float, float] = ACCENT
            rgb = _over(_over(_over(rgb, WHITE, env), WHITE, disc), BADGE_RED, sign)
            row.append((round(rgb[0]), round(rgb[1]), round(rgb[2]), 255))
        rows.append(row)
    return rows


def draw_outline() -> list[list[Pixel]]:
    """32x32: white where the envelope or the badge's sign is (alpha = coverage), transparent elsewhere."""
    origin, scale = 1.0, 30.0

    def symbol(u: float, v: float) -> bool:
        return envelope(u, v) or badge_sign(u, v)

    rows: list[list[Pixel]] = []
    for y in range(OUTLINE_SIZE):
        row: list[Pixel] = []
        for x in range(OUTLINE_SIZE):
            alpha = round(255 * _coverage((symbol,), x, y, origin, scale)[0])
            row.append((255, 255, 255, alpha) if alpha else (0, 0, 0, 0))
        rows.append(row)
    return rows


@functools.cache
def _drawn() -> tuple[tuple[str, bytes], ...]:
    return (
        ("color.png", encode_png(draw_color(), alpha=False)),
        ("outline.png", encode_png(draw_outline(), alpha=True)),
    )


def icons() -> dict[str, bytes]:
    """File name → PNG bytes of both icons (drawn once per process: drawing takes a second or two)."""
    return dict(_drawn())


def main(argv: list[str] | None = None) -> int:
    """Write the icons into manifest/, or with --check compare them with what is there."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    parser.add_argument("--out", type=Path, default=MANIFEST_DIR, help="directory to write into (default manifest/)")
    args = parser.parse_args(argv)
    status = 0
    for name, data in icons().items():
        path: Path = args.out / name
        if args.check:
            if not path.is_file() or read_png_file(path).pixels != read_png(data).pixels:
                print(f"{path} differs from what tools/make_icons.py draws", file=sys.stderr)
                status = 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
