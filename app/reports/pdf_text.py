"""Text in the PDF report exactly as a person or a model pack wrote it, in any script.

reportlab reads Paragraph text as markup and its standard fonts cover Western European letters
only, so a note with `<b>`, `&`, Arabic or Chinese would be changed, lost or drawn as black
boxes. Every user- or pack-supplied string goes through `markup()` (or `draw_string()` on the
page header): escaped, line breaks kept, drawn in DejaVu Sans (Latin, Greek, Cyrillic, Arabic,
Hebrew) and Droid Sans Fallback (Chinese, Japanese), both shipped in fonts/ and embedded in the
PDF as subsets so any viewer on an offline machine shows them; what neither has (Korean Hangul)
falls back to reportlab's built-in CID fonts, whose glyphs the viewer must supply. Arabic and
Hebrew are shaped and put in display order (arabic-reshaper, python-bidi) because reportlab lays
text out left to right, one glyph per character.
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path
from xml.sax.saxutils import escape

import arabic_reshaper
from bidi import get_display
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path(__file__).with_name("fonts")
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
CJK = "DroidSansFallback"
# reportlab's CID fonts (Adobe's Asian font metrics, bundled in reportlab) for what neither has.
CHINESE = "STSong-Light"
JAPANESE = "HeiseiMin-W3"
KOREAN = "HYSMyeongJo-Medium"

_lock = threading.Lock()
_registered = False
_glyphs: dict[str, frozenset[int]] = {}  # font name -> the characters it can draw


def register_fonts() -> None:
    """Register the report's fonts with reportlab once per process."""
    global _registered
    with _lock:
        if _registered:
            return
        for name, file in ((REGULAR, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"), (CJK, "DroidSansFallbackFull.ttf")):
            font = TTFont(name, str(FONT_DIR / file))
            pdfmetrics.registerFont(font)
            _glyphs[name] = frozenset(font.face.charToGlyph)
        for style in ((0, 0), (0, 1)):
            addMapping(REGULAR, *style, REGULAR)
        for style in ((1, 0), (1, 1)):
            addMapping(REGULAR, *style, BOLD)
        for name in (CHINESE, JAPANESE, KOREAN):
            pdfmetrics.registerFont(UnicodeCIDFont(name))
        _registered = True


def _font_for(char: str, default: str) -> str:
    code = ord(char)
    if code in _glyphs[default] or char in "\n\t":
        return default
    if code in _glyphs[CJK]:
        return CJK
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return KOREAN
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        return JAPANESE
    # Han ideographs, CJK punctuation, fullwidth forms and anything else: the Chinese CID font
    # has the widest coverage of what is left.
    return CHINESE


def _is_right_to_left(line: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in line)


def display_order(line: str) -> str:
    """One line as it must be drawn left to right: Arabic letters joined, right-to-left runs
    reversed. Lines without right-to-left text are returned unchanged."""
    if not _is_right_to_left(line):
        return line
    return get_display(arabic_reshaper.reshape(line))


def runs(line: str, default: str = REGULAR) -> list[tuple[str, str]]:
    """(font, text) pieces of one display-ordered line."""
    register_fonts()
    pieces: list[tuple[str, str]] = []
    for char in line:
        font = _font_for(char, default)
        if pieces and pieces[-1][0] == font:
            pieces[-1] = (font, pieces[-1][1] + char)
        else:
            pieces.append((font, char))
    return pieces


def markup(text: str, default: str = REGULAR) -> str:
    """Paragraph markup that draws `text` exactly: nothing in it is read as markup."""
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        lines.append("".join(escape(piece) if font == default else f'<font name="{font}">{escape(piece)}</font>' for font, piece in runs(display_order(line), default)))
    return "<br/>".join(lines)


def draw_string(canvas, x: float, y: float, text: str, size: float, bold: bool = False) -> None:  # noqa: ANN001 (reportlab canvas)
    """Draw one line of text on the page (header, footer) in the right fonts."""
    default = BOLD if bold else REGULAR
    for font, piece in runs(display_order(" ".join(text.splitlines())), default):
        canvas.setFont(font, size)
        canvas.drawString(x, y, piece)
        x += pdfmetrics.stringWidth(piece, font, size)
