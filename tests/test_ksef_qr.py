"""The QR images of an offline invoice (domain/ksef/qr.py, kody-qr.md): each PNG and SVG read back by an
independent decoder (zxing-cpp) to the exact link, at level M, 5 pixels per module with the quiet zone, and its
label read back from the pixels (PNG) or the text (SVG)."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import date

import pytest
import zxingcpp
from lxml import etree

from domain.ksef import qr

# kody-qr.md's two examples
KOD_I = "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
KOD_II = ("https://qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/UtQp9Gpc51y-u3xApZjI"
          "jgkpZ01js-J8KflSPW8WzIE/mSkm_XmM9fq7PgAJwiL32L9ujhyguOEV48cDB0ncemD2r9TMGa3lr0iRoFk588agCi8QPsOuscUY1rZ7"
          "ff76STbGquO-gZtQys5_fHdf2HUfDqPqVTnUS6HknBu0zLkyf9ygoW7WbH06Ty_8BgQTlOmJFzNWSt9WZa7tAGuAE9JOooNps-KG2PY"
          "kkIP4q4jPMp3FKypAygHVnXtS0RDGgOxhhM7LWtFP7D-dWINbh5yXD8Lr-JVbeOpyQjHa6WmMYavCDQJ3X_Z-iS01LZu2s1B3xuOykl1h"
          "0sLObCdADrbxOONsXrvQa61Xt_rxyprVraj2Uf9pANQgR4-12HEcMw")
KSEF_NUMBER = "5265877635-20250826-0100001AF629-AF"


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and grey pixels of an 8-bit greyscale PNG whose scanlines are unfiltered."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + data)
        header, idat = (data, idat) if kind == b"IHDR" else (header, idat + data if kind == b"IDAT" else idat)
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) == (8, 0)
    raw = zlib.decompress(idat)
    rows = [raw[y * (width + 1):(y + 1) * (width + 1)] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, b"".join(row[1:] for row in rows)


def _svg_pixels(svg: bytes) -> tuple[int, int, bytes, str]:
    """The SVG's path rasterised (each subpath a rectangle `M x y h w v h h -w z`) and its text."""
    root = etree.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    width, height = int(root.get("width")), int(root.get("height"))
    pixels = bytearray(b"\xff" * (width * height))
    [path] = root.findall("s:path", ns)
    d = path.get("d")
    rects = re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)h-(\d+)z", d)
    assert "".join(f"M{x} {y}h{w}v{h}h-{w2}z" for x, y, w, h, w2 in rects) == d
    for x, y, w, h, w2 in rects:
        assert w == w2
        for py in range(int(y), int(y) + int(h)):
            pixels[py * width + int(x):py * width + int(x) + int(w)] = b"\x00" * int(w)
    [text] = root.findall("s:text", ns)
    return width, height, bytes(pixels), text.text or ""


def _decoded(width: int, height: int, pixels: bytes) -> zxingcpp.Result:
    [found] = zxingcpp.read_barcodes(zxingcpp.ImageView(pixels, width, height, zxingcpp.ImageFormat.Lum))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return found


def _label(width: int, height: int, pixels: bytes, top: int) -> str:
    """The label read back from the band under the code: its ink's box gives the font's pixel size, then each
    5x7 cell is looked up among the module's glyphs."""
    ink = [(x, y) for y in range(top, height) for x in range(width) if pixels[y * width + x] < 128]
    left, right = min(x for x, _ in ink), max(x for x, _ in ink)
    upper, lower = min(y for _, y in ink), max(y for _, y in ink)
    scale = (lower - upper + 1) // qr.GLYPH_HEIGHT
    assert scale >= 1 and (lower - upper + 1) % qr.GLYPH_HEIGHT == 0
    by_shape = {qr.glyph(c): c for c in qr.LABEL_CHARACTERS}
    out, x0 = [], left
    while x0 < right:
        cell = tuple("".join("#" if pixels[(upper + gy * scale + scale // 2) * width + x0 + gx * scale + scale // 2]
                             < 128 else "." for gx in range(qr.GLYPH_WIDTH)) for gy in range(qr.GLYPH_HEIGHT))
        out.append(by_shape[cell])
        x0 += (qr.GLYPH_WIDTH + 1) * scale
    return "".join(out)


@pytest.mark.parametrize(("link", "label"), [(KOD_I, qr.LABEL_OFFLINE), (KOD_II, qr.LABEL_CERTIFICATE),
                                             (KOD_I, KSEF_NUMBER)])
def test_the_png_reads_back_to_the_link_and_its_label(link: str, label: str) -> None:
    width, height, pixels = _png_pixels(qr.qr_png(link, label))
    found = _decoded(width, height, pixels)
    assert found.text == link and found.ec_level == "M"
    modules = len(qr.qr_matrix(link))
    code = (modules + 2 * qr.QUIET_ZONE) * qr.PIXELS_PER_MODULE
    assert width == code  # even the 35 characters of a KSeF number fit under the code
    assert found.position.top_left.x == found.position.bottom_left.x  # upright, and 5 pixels a module:
    assert found.position.top_right.x - found.position.top_left.x == modules * qr.PIXELS_PER_MODULE
    top = found.position.top_left.x  # the quiet zone, 4 modules, is clear on every side of the code
    assert top == qr.QUIET_ZONE * qr.PIXELS_PER_MODULE
    for y in range(code):
        for x in range(code):
            if not (top <= x < code - top and top <= y < code - top):
                assert pixels[y * width + x] == 255, (x, y)
    assert _label(width, height, pixels, code) == label


def test_the_svg_reads_back_to_the_link_and_its_label() -> None:
    for link, label in ((KOD_I, qr.LABEL_OFFLINE), (KOD_II, qr.LABEL_CERTIFICATE)):
        width, height, pixels, text = _svg_pixels(qr.qr_svg(link, label))
        found = _decoded(width, height, pixels)
        assert (found.text, found.ec_level, text) == (link, "M", label)
        assert (width, height) == _png_pixels(qr.qr_png(link, label))[:2]


def test_the_files_of_an_offline_invoice() -> None:
    files = qr.offline_qr_files("offline24", date(2026, 12, 8), KOD_I, KOD_II)
    assert [(role, name, mime) for role, name, mime, _ in files] == [
        ("qr", "QR.txt", "text/plain"), ("qr", "KOD_I.svg", qr.SVG), ("qr", "KOD_I.png", qr.PNG),
        ("qr", "KOD_II.svg", qr.SVG), ("qr", "KOD_II.png", qr.PNG)]
    content = {name: data for _, name, _, data in files}
    assert content["QR.txt"].decode() == (
        "mode: offline24\nsend to KSeF by: 2026-12-08 (end of day, Europe/Warsaw)\n"
        f"KOD I (label OFFLINE until KSeF numbers it): {KOD_I}\nKOD II (CERTYFIKAT): {KOD_II}\n")
    for name, link, label in (("KOD_I", KOD_I, "OFFLINE"), ("KOD_II", KOD_II, "CERTYFIKAT")):
        width, height, pixels = _png_pixels(content[f"{name}.png"])
        assert _decoded(width, height, pixels).text == link
        assert _label(width, height, pixels, (len(qr.qr_matrix(link)) + 8) * 5) == label
        assert _svg_pixels(content[f"{name}.svg"])[3] == label


def test_a_label_outside_the_font_is_refused() -> None:
    with pytest.raises(ValueError, match="a QR label holds only"):
        qr.qr_png(KOD_I, "offline")
    with pytest.raises(ValueError, match="a QR label holds only"):
        qr.qr_svg(KOD_I, "")
