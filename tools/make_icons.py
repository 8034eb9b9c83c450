"""Draws the app's icons and logos into static/ (pure Python; rerun after changing the design)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"
NAVY = (22, 42, 74)
ORANGE = (255, 136, 0)
WHITE = (255, 255, 255)


def write_png(path: Path, width: int, height: int, pixels: list[list[tuple[int, int, int, int]]]) -> None:
    raw = b"".join(b"\x00" + b"".join(struct.pack("4B", *px) for px in row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def glyph(u: float, v: float) -> tuple[int, int, int] | None:
    """A vertical timeline with three entries, in unit coordinates; None where the background shows."""
    if 0.27 <= u <= 0.33 and 0.18 <= v <= 0.82:
        return ORANGE
    for centre in (0.28, 0.5, 0.72):
        if (u - 0.30) ** 2 + (v - centre) ** 2 <= 0.075**2:
            return ORANGE
        if 0.42 <= u <= 0.78 and abs(v - centre) <= 0.035:
            return WHITE
    return None


def draw(width: int, height: int, background: bool, samples: int = 4) -> list[list[tuple[int, int, int, int]]]:
    rows = []
    side = min(width, height)
    radius = 0.18
    for y in range(height):
        row = []
        for x in range(width):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(samples):
                for sx in range(samples):
                    px = (x + (sx + 0.5) / samples) / side
                    py = (y + (sy + 0.5) / samples) / side
                    color = glyph(px, py) if px <= 1.0 else logo_bars(px, py)
                    inside = background and rounded(px, py, width / side, radius)
                    if color is not None:
                        rgba = (*color, 255) if background or color is not WHITE else (*NAVY, 255)
                    elif inside:
                        rgba = (*NAVY, 255)
                    else:
                        rgba = (0, 0, 0, 0)
                    for i in range(4):
                        acc[i] += rgba[i]
            n = samples * samples
            row.append(tuple(round(c / n) for c in acc))
        rows.append(row)
    return rows


def rounded(u: float, v: float, aspect: float, r: float) -> bool:
    cx = min(max(u, r), aspect - r)
    cy = min(max(v, r), 1 - r)
    return (u - cx) ** 2 + (v - cy) ** 2 <= r * r


def logo_bars(u: float, v: float) -> tuple[int, int, int] | None:
    """Right of the square on logos: stylised text lines standing for the product name."""
    if 1.15 <= u <= 3.7 and 0.3 <= v <= 0.46:
        return WHITE
    if 1.15 <= u <= 2.9 and 0.56 <= v <= 0.68:
        return ORANGE
    return None


def main() -> None:
    STATIC.mkdir(exist_ok=True)
    for name, w, h, bg in (
        ("appIcon.png", 36, 36, True),
        ("appIcon_2x.png", 72, 72, True),
        ("appIconAlt.png", 36, 36, False),
        ("appIconAlt_2x.png", 72, 72, False),
        ("appLogo.png", 160, 40, True),
        ("appLogo_2x.png", 320, 80, True),
    ):
        write_png(STATIC / name, w, h, draw(w, h, bg))


if __name__ == "__main__":
    main()
