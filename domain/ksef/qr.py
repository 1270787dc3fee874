"""The QR codes of an invoice issued offline as images (kody-qr.md): KOD I and KOD II, each a QR code with its
label under it.

kody-qr.md asks a QR code of ISO/IEC 18004:2024 (model 2, which segno encodes), its example draws 5 pixels per
module, and it names the label under each code: under KOD I the invoice's KSeF number once KSeF gave one, else
`OFFLINE`; under KOD II `CERTYFIKAT`. It names no error correction level: we take M, the level of the
Ministry's own client library (ksef-client-csharp's QrCodeService). Each code keeps the standard's quiet zone of
4 modules; the label sits under it.

Each code is written twice: as SVG (modules as one path, the label as text, for print at any size) and as PNG
(8-bit grey, the label drawn from a small bitmap font of the characters a label can hold: the two words and a
KSeF number's digits, A-F and hyphens), with segno for the encoding only and no imaging library.
"""

from __future__ import annotations

import struct
import zlib
from datetime import date
from html import escape

import segno

ERROR_LEVEL = "m"
PIXELS_PER_MODULE = 5
QUIET_ZONE = 4  # modules (ISO/IEC 18004)
LABEL_OFFLINE = "OFFLINE"  # under KOD I until KSeF numbers the invoice
LABEL_CERTIFICATE = "CERTYFIKAT"  # under KOD II
SVG = "image/svg+xml"
PNG = "image/png"

# 5x7 glyphs: 7 rows of 5, '#' ink, '.' paper.
_GLYPHS: dict[str, str] = {
    "A": ".###. #...# #...# ##### #...# #...# #...#", "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.", "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####", "F": "##### #.... #.... ####. #.... #.... #....",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####", "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.", "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..", "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.", "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####", "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.", "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.", "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.", "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "-": "..... ..... ..... ##### ..... ..... .....",
}
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
LABEL_CHARACTERS = frozenset(_GLYPHS)


def glyph(char: str) -> tuple[str, ...]:
    """The 7 rows of a label character ('#' ink, '.' paper)."""
    return tuple(_GLYPHS[char].split())


def qr_matrix(link: str) -> tuple[tuple[bool, ...], ...]:
    """The link's QR code as rows of modules (True dark), without the quiet zone: byte mode, level M, the
    smallest version that holds it."""
    code = segno.make_qr(link, error=ERROR_LEVEL, boost_error=False, encoding="utf-8")
    return tuple(tuple(bool(m) for m in row) for row in code.matrix)


class _Layout:
    """Where the code and its label go, in pixels."""

    def __init__(self, link: str, label: str) -> None:
        if not label or set(label) - LABEL_CHARACTERS:
            raise ValueError(f"a QR label holds only {''.join(sorted(LABEL_CHARACTERS))}, got {label!r}")
        self.matrix = qr_matrix(link)
        self.label = label
        self.code_size = (len(self.matrix) + 2 * QUIET_ZONE) * PIXELS_PER_MODULE
        room = self.code_size - 2 * PIXELS_PER_MODULE
        advance = GLYPH_WIDTH + 1
        # the biggest font pixel, up to 3, that fits the label under the code (a KSeF number is 35 characters)
        self.scale = max(1, min(3, room // (advance * len(label) - 1)))
        self.text_width = (advance * len(label) - 1) * self.scale
        self.width = max(self.code_size, self.text_width + 2 * PIXELS_PER_MODULE)
        self.code_left = (self.width - self.code_size) // 2
        self.text_left = (self.width - self.text_width) // 2
        self.text_top = self.code_size
        self.height = self.text_top + GLYPH_HEIGHT * self.scale + QUIET_ZONE * PIXELS_PER_MODULE

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """(row, first column, length) of each run of dark modules."""
        runs = []
        for y, row in enumerate(self.matrix):
            x = 0
            while x < len(row):
                if row[x]:
                    start = x
                    while x < len(row) and row[x]:
                        x += 1
                    runs.append((y, start, x - start))
                else:
                    x += 1
        return runs


def qr_png(link: str, label: str) -> bytes:
    """The link's QR code with its label under it, as a PNG (8-bit grey, black on white)."""
    lay = _Layout(link, label)
    pixels = [bytearray(b"\xff" * lay.width) for _ in range(lay.height)]
    ppm = PIXELS_PER_MODULE
    for y, x, length in lay.dark_runs():
        left = lay.code_left + (QUIET_ZONE + x) * ppm
        for py in range((QUIET_ZONE + y) * ppm, (QUIET_ZONE + y + 1) * ppm):
            pixels[py][left:left + length * ppm] = b"\x00" * (length * ppm)
    s = lay.scale
    for i, char in enumerate(lay.label):
        left = lay.text_left + i * (GLYPH_WIDTH + 1) * s
        for gy, row in enumerate(glyph(char)):
            for gx, ink in enumerate(row):
                if ink == "#":
                    for py in range(lay.text_top + gy * s, lay.text_top + (gy + 1) * s):
                        pixels[py][left + gx * s:left + (gx + 1) * s] = b"\x00" * s
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 (none) on each scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", lay.width, lay.height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def qr_svg(link: str, label: str) -> bytes:
    """The link's QR code with its label under it, as SVG: the dark modules as one path (in pixels, 5 per
    module), the label as monospace text."""
    lay = _Layout(link, label)
    ppm = PIXELS_PER_MODULE
    path = "".join(f"M{lay.code_left + (QUIET_ZONE + x) * ppm} {(QUIET_ZONE + y) * ppm}h{n * ppm}v{ppm}h-{n * ppm}z"
                   for y, x, n in lay.dark_runs())
    font_size = GLYPH_HEIGHT * lay.scale * 10 // 7  # a cap height about the PNG's
    baseline = lay.text_top + GLYPH_HEIGHT * lay.scale
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width}" height="{lay.height}" '
            f'viewBox="0 0 {lay.width} {lay.height}">'
            f'<rect width="{lay.width}" height="{lay.height}" fill="#fff"/>'
            f'<path fill="#000" d="{path}"/>'
            f'<text x="{lay.width // 2}" y="{baseline}" text-anchor="middle" font-family="monospace" '
            f'font-weight="bold" font-size="{font_size}" textLength="{lay.text_width}" '
            f'lengthAdjust="spacingAndGlyphs">{escape(label, quote=False)}</text></svg>\n').encode()


def offline_qr_files(mode: str, send_by: date | None, kod_i: str, kod_ii: str,
                     pending: str = "") -> list[tuple[str, str, str, bytes]]:
    """The QR files of an invoice issued offline, as (role, name suffix, MIME type, content), all of role `qr`:
    `QR.txt` with its mode, its deadline and the two links, and each code as `KOD_I`/`KOD_II` `.svg` and `.png`
    (KOD I labelled OFFLINE: KSeF has not numbered it yet; KOD II labelled CERTYFIKAT). `send_by` None: the
    deadline is not known yet (its announcement goes on), `pending` says why."""
    by = f"{send_by.isoformat()} (end of day, Europe/Warsaw)" if send_by is not None else f"not known yet ({pending})"
    text = (f"mode: {mode}\nsend to KSeF by: {by}\n"
            f"KOD I (label {LABEL_OFFLINE} until KSeF numbers it): {kod_i}\nKOD II ({LABEL_CERTIFICATE}): {kod_ii}\n")
    files = [("qr", "QR.txt", "text/plain", text.encode())]
    for name, link, label in (("KOD_I", kod_i, LABEL_OFFLINE), ("KOD_II", kod_ii, LABEL_CERTIFICATE)):
        files += [("qr", f"{name}.svg", SVG, qr_svg(link, label)), ("qr", f"{name}.png", PNG, qr_png(link, label))]
    return files
