"""Palette files: parse and format the formats other tools read, from and to bytes.

No file is opened here (:mod:`kmimg.io` reads and writes); every parser takes the file's bytes
and its name for the messages, and raises :class:`~kmimg.errors.PaletteError` naming the file,
the line (or entry) and the reason.

- **GIMP** ``.gpl`` (also written by Inkscape, Krita, Aseprite): a ``GIMP Palette`` first line,
  optional ``Name:``, ``Columns:`` and (Aseprite's extension) ``Channels: RGBA`` lines, ``#``
  comments, then one ``R G B name`` line per colour. Written exactly as GIMP writes it:
  ``GIMP Palette``, ``Name: ...``, ``Columns: ...``, ``#``, then ``%3d %3d %3d\\tname`` lines.
- **Adobe colour table** ``.act`` (Photoshop's "Save for Web"): 256 RGB triples (768 bytes),
  then, in the files Photoshop writes since CS2, a big-endian 16-bit colour count and a
  big-endian 16-bit transparent index (``0xFFFF`` for none): 772 bytes.
- **Hex lists** ``.hex`` / ``.txt`` (as palette sites share them): one ``#rrggbb`` or ``rrggbb``
  a line; ``#rrggbbaa`` (CSS order) and Paint.NET's ``aarrggbb`` (eight digits, no ``#``) are
  read too; ``;`` and ``//`` lines and ``#`` followed by a space are comments.
- **JASC-PAL** ``.pal`` (Paint Shop Pro; many retro tools, Aseprite and palette sites share it):
  ``JASC-PAL``, ``0100``, the colour count, then one ``R G B`` line per colour (a fourth number,
  alpha, as some tools write it, is read too). Written as Paint Shop Pro writes it, with CRLF line
  ends. A Microsoft RIFF palette (binary, also called ``.pal``) is read too.
- **JSON** ``.json``: ``{"name": ..., "colors": [{"hex": "#rrggbb", "alpha": 255, "name": ...}]}``;
  reading also takes a plain list of hex strings, ``"rgb": [r, g, b(, a)]`` entries, and a
  ``"palette"`` list (as ``kmimg quantize --json`` and ``kmimg palette --json`` write it).
  The only format that keeps translucent alpha besides eight-digit hex.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.errors import PaletteError

#: A PNG palette holds at most this many entries.
MAX_COLORS = 256
_ACT_COLORS = 256
_ACT_NO_TRANSPARENCY = 0xFFFF


class PaletteFormat(str, Enum):
    """The palette file formats kmimg reads and writes."""

    GPL = "gpl"
    ACT = "act"
    HEX = "hex"
    JSON = "json"
    PAL = "pal"


_EXTENSIONS = {".gpl": PaletteFormat.GPL, ".act": PaletteFormat.ACT, ".hex": PaletteFormat.HEX}
_EXTENSIONS |= {".txt": PaletteFormat.HEX, ".json": PaletteFormat.JSON, ".pal": PaletteFormat.PAL}
#: Extensions of palette files, for messages.
EXTENSIONS = tuple(_EXTENSIONS)


@frozen
class Palette:
    """An ordered list of colours: ``colors`` ``(m, 4)`` RGBA uint8, ``1 <= m <= 256``;
    ``names`` one name per colour (``""`` when unnamed) or empty; ``title`` the palette's name."""

    colors: NDArray[np.uint8]
    names: tuple[str, ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        colors = np.asarray(self.colors)
        if colors.ndim != 2 or colors.shape[1] != 4 or colors.dtype != np.uint8:
            raise ValueError("colors must be an (m, 4) uint8 array")
        if self.names and len(self.names) != len(colors):
            raise ValueError("names must hold one name per colour")

    def __len__(self) -> int:
        return len(self.colors)

    def name_of(self, index: int) -> str:
        return self.names[index] if self.names else ""

    @property
    def has_alpha(self) -> bool:
        return bool((self.colors[:, 3] < 255).any())


def palette_from_rgb(colors: NDArray[np.uint8] | Sequence[Sequence[int]], *, title: str = "") -> Palette:
    """A :class:`Palette` of RGB or RGBA rows (alpha 255 when absent)."""
    rows = np.asarray(colors, dtype=np.uint8).reshape(len(colors), -1)
    if rows.shape[1] == 3:
        rows = np.column_stack([rows, np.full(len(rows), 255, dtype=np.uint8)])
    return Palette(np.ascontiguousarray(rows), title=title)


def format_of(path: str) -> PaletteFormat:
    """The palette format an output or input path names by its extension."""
    lower = path.lower()
    for extension, kind in _EXTENSIONS.items():
        if lower.endswith(extension):
            return kind
    raise PaletteError(f"{path}: not a palette file name (use {', '.join(EXTENSIONS)})")


def parse_palette(raw: bytes, *, source: str, kind: PaletteFormat | None = None) -> Palette:
    """Parse a palette file's bytes; ``kind`` defaults to the format ``source``'s extension names."""
    kind = kind or format_of(source)
    parse = {
        PaletteFormat.GPL: parse_gpl,
        PaletteFormat.ACT: parse_act,
        PaletteFormat.HEX: parse_hex,
        PaletteFormat.JSON: parse_json,
        PaletteFormat.PAL: parse_pal,
    }[kind]
    return parse(raw, source=source)


def format_palette(palette: Palette, kind: PaletteFormat, *, source: str = "") -> bytes:
    """The bytes of ``palette`` in format ``kind`` (``source`` names the file in messages)."""
    write = {
        PaletteFormat.GPL: format_gpl,
        PaletteFormat.ACT: format_act,
        PaletteFormat.HEX: format_hex,
        PaletteFormat.JSON: format_json,
        PaletteFormat.PAL: format_pal,
    }[kind]
    return write(palette, source=source)


# GIMP -------------------------------------------------------------------------------------------

_GPL_MAGIC = "GIMP Palette"


def parse_gpl(raw: bytes, *, source: str) -> Palette:
    """Parse a GIMP palette (see the module docstring); names are kept, comments skipped."""
    lines = _text(raw, source).splitlines()
    if not lines or lines[0].strip() != _GPL_MAGIC:
        raise PaletteError(f"{source}: line 1: not a GIMP palette (the first line must be '{_GPL_MAGIC}')")
    title, channels = "", 3
    rows: list[tuple[int, ...]] = []
    names: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = re.match(r"(Name|Columns|Channels):\s*(.*)$", stripped)
        if header and not rows:
            title = header.group(2) if header.group(1) == "Name" else title
            channels = _gpl_channels(header, source, number) if header.group(1) == "Channels" else channels
            continue
        row, name = _gpl_row(stripped, channels, source, number)
        rows.append(row)
        names.append(name)
    return _finish(rows, names, title, source)


def _gpl_channels(header: re.Match[str], source: str, number: int) -> int:
    value = header.group(2).strip().upper()
    if value not in ("RGB", "RGBA"):
        raise PaletteError(f"{source}: line {number}: unknown channels {value!r} (expected RGB or RGBA)")
    return len(value)


def _gpl_row(line: str, channels: int, source: str, number: int) -> tuple[tuple[int, ...], str]:
    words = line.split(None, channels)
    values = words[:channels]
    shape = "R G B A" if channels == 4 else "R G B"
    if len(values) < channels or not all(_is_byte(v) for v in values):
        raise PaletteError(
            f"{source}: line {number}: expected '{shape} [name]' with values 0-255, got {line!r}"
        )
    name = words[channels].strip() if len(words) > channels else ""
    return (*(int(v) for v in values), 255)[:4], name


def _is_byte(word: str) -> bool:
    return word.isdigit() and int(word) <= 255


def format_gpl(palette: Palette, *, source: str = "") -> bytes:
    """A GIMP palette, as GIMP writes it (unnamed colours are named by their hex code)."""
    _refuse_alpha(palette, "a GIMP palette", source)
    title = (palette.title or "kmimg").replace("\n", " ")
    columns = min(len(palette), 16)
    lines = [_GPL_MAGIC, f"Name: {title}", f"Columns: {columns}", "#"]
    for index, (r, g, b, _) in enumerate(palette.colors.tolist()):
        name = palette.name_of(index).replace("\n", " ") or f"#{r:02x}{g:02x}{b:02x}"
        lines.append(f"{r:3d} {g:3d} {b:3d}\t{name}")
    return ("\n".join(lines) + "\n").encode("utf-8")


# Adobe ------------------------------------------------------------------------------------------


def parse_act(raw: bytes, *, source: str) -> Palette:
    """Parse an Adobe colour table: 768 bytes (256 colours) or 772 (count and transparent
    index). A transparent index outside the counted colours is ignored, as Photoshop does."""
    if len(raw) not in (3 * _ACT_COLORS, 3 * _ACT_COLORS + 4):
        raise PaletteError(
            f"{source}: not an Adobe colour table (768 or 772 bytes, this file has {len(raw)})"
        )
    count, transparent = _ACT_COLORS, _ACT_NO_TRANSPARENCY
    if len(raw) == 3 * _ACT_COLORS + 4:
        count, transparent = struct.unpack(">HH", raw[3 * _ACT_COLORS :])
    if not 1 <= count <= _ACT_COLORS:
        reason = "holds no colours" if count == 0 else f"says it holds {count} colours (at most 256)"
        raise PaletteError(f"{source}: {reason}")
    rgb = np.frombuffer(raw[: 3 * count], dtype=np.uint8).reshape(count, 3)
    colors = np.column_stack([rgb, np.full(count, 255, dtype=np.uint8)])
    if transparent < count:
        colors[transparent, 3] = 0
    return Palette(np.ascontiguousarray(colors))


def format_act(palette: Palette, *, source: str = "") -> bytes:
    """A 772-byte Adobe colour table as Photoshop writes it: the colours, zeros up to 256
    entries, the count and the transparent index (the first fully transparent colour, or
    ``0xFFFF``) as big-endian 16-bit numbers."""
    colors = palette.colors
    translucent = (colors[:, 3] > 0) & (colors[:, 3] < 255)
    if translucent.any():
        raise PaletteError(f"{source or 'palette'}: an Adobe colour table cannot hold translucent colours")
    body = np.zeros((_ACT_COLORS, 3), dtype=np.uint8)
    body[: len(colors)] = colors[:, :3]
    clear = np.flatnonzero(colors[:, 3] == 0)
    transparent = int(clear[0]) if len(clear) else _ACT_NO_TRANSPARENCY
    return body.tobytes() + struct.pack(">HH", len(colors), transparent)


# JASC-PAL and RIFF palettes ---------------------------------------------------------------------

_JASC_MAGIC = "JASC-PAL"
_RIFF_MAGIC = b"RIFF"


def parse_pal(raw: bytes, *, source: str) -> Palette:
    """Parse a ``.pal`` file: a JASC-PAL text palette or a Microsoft RIFF palette."""
    if raw.startswith(_RIFF_MAGIC):
        return _parse_riff_pal(raw, source)
    lines = _text(raw, source).splitlines()
    if not lines or lines[0].strip() != _JASC_MAGIC:
        raise PaletteError(
            f"{source}: line 1: not a JASC palette (the first line must be '{_JASC_MAGIC}') "
            "nor a RIFF palette"
        )
    if len(lines) < 3 or not lines[2].strip().isdigit():
        raise PaletteError(f"{source}: line 3: expected the number of colours, got {_line(lines, 2)!r}")
    count = int(lines[2])
    rows = [
        _pal_row(line.strip(), source, number)
        for number, line in enumerate(lines[3:], start=4)
        if line.strip()
    ]
    if len(rows) != count:
        raise PaletteError(f"{source}: says it holds {count} colours, but lists {len(rows)}")
    return _finish(rows, [""] * len(rows), "", source)


def _line(lines: list[str], index: int) -> str:
    return lines[index].strip() if index < len(lines) else ""


def _pal_row(line: str, source: str, number: int) -> tuple[int, ...]:
    words = line.split()
    if len(words) not in (3, 4) or not all(_is_byte(word) for word in words):
        raise PaletteError(f"{source}: line {number}: expected 'R G B' with values 0-255, got {line!r}")
    return (*(int(word) for word in words), 255)[:4]


def _parse_riff_pal(raw: bytes, source: str) -> Palette:
    """A RIFF ``PAL `` form: a ``data`` chunk of version 0x0300, a count and R G B flags quads."""
    if len(raw) < 24 or raw[8:12] != b"PAL " or raw[12:16] != b"data":
        raise PaletteError(f"{source}: a RIFF file, but not a palette (no 'PAL ' form with a 'data' chunk)")
    size, version, count = struct.unpack("<IHH", raw[16:24])
    if version != 0x0300 or size < 4 + 4 * count or len(raw) < 24 + 4 * count:
        raise PaletteError(f"{source}: a damaged RIFF palette (version {version:#06x}, {count} colours)")
    quads = np.frombuffer(raw[24 : 24 + 4 * count], dtype=np.uint8).reshape(count, 4)
    rows: list[tuple[int, ...]] = [(int(r), int(g), int(b), 255) for r, g, b, _ in quads.tolist()]
    return _finish(rows, [""] * count, "", source)


def format_pal(palette: Palette, *, source: str = "") -> bytes:
    """A JASC-PAL palette as Paint Shop Pro writes it (CRLF line ends, no names)."""
    _refuse_alpha(palette, "a JASC palette", source)
    lines = [_JASC_MAGIC, "0100", str(len(palette))]
    lines += [f"{r} {g} {b}" for r, g, b, _ in palette.colors.tolist()]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


# Hex lists --------------------------------------------------------------------------------------

_HEX_LINE = re.compile(r"(#?)([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})(?:\s+(.*))?$")


def parse_hex(raw: bytes, *, source: str) -> Palette:
    """Parse a hex list (see the module docstring); text after a colour is its name."""
    rows: list[tuple[int, ...]] = []
    names: list[str] = []
    for number, line in enumerate(_text(raw, source).splitlines(), start=1):
        stripped = line.strip()
        if _is_hex_comment(stripped):
            continue
        found = _HEX_LINE.match(stripped)
        if not found:
            raise PaletteError(
                f"{source}: line {number}: expected a colour such as #ff8800, got {stripped!r}"
            )
        rows.append(_hex_digits(found.group(2), hash_sign=bool(found.group(1))))
        names.append((found.group(3) or "").strip())
    return _finish(rows, names, "", source)


def _is_hex_comment(line: str) -> bool:
    return not line or line.startswith((";", "//")) or line == "#" or line.startswith(("# ", "#\t"))


def _hex_digits(digits: str, *, hash_sign: bool) -> tuple[int, ...]:
    """RGBA of six or eight hex digits: ``#rrggbbaa`` with a ``#``, Paint.NET's ``aarrggbb``
    without one."""
    values = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    if len(values) == 3:
        return (*values, 255)
    return tuple(values) if hash_sign else (*values[1:], values[0])


def format_hex(palette: Palette, *, source: str = "") -> bytes:
    """One ``#rrggbb`` a line (``#rrggbbaa`` for a colour that is not opaque)."""
    return "".join(hex_code(row) + "\n" for row in palette.colors).encode("ascii")


def hex_code(color: NDArray[np.uint8] | Sequence[int]) -> str:
    """``#rrggbb`` of an RGB(A) colour, ``#rrggbbaa`` when its alpha is below 255."""
    values = [int(v) for v in color]
    text = "#" + "".join(f"{v:02x}" for v in values[:3])
    return text + (f"{values[3]:02x}" if len(values) > 3 and values[3] < 255 else "")


# JSON -------------------------------------------------------------------------------------------


def parse_json(raw: bytes, *, source: str) -> Palette:
    """Parse a JSON palette (see the module docstring)."""
    try:
        document = json.loads(_text(raw, source))
    except json.JSONDecodeError as exc:
        raise PaletteError(f"{source}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    title = ""
    entries: Any = document
    if isinstance(document, dict):
        title = str(document.get("name") or "")
        entries = document.get("colors", document.get("palette"))
    if not isinstance(entries, list):
        raise PaletteError(f'{source}: expected a list of colours or an object with a "colors" list')
    rows: list[tuple[int, ...]] = []
    names: list[str] = []
    for number, entry in enumerate(entries, start=1):
        row, name = _json_entry(entry, f"{source}: colour {number}")
        rows.append(row)
        names.append(name)
    return _finish(rows, names, title, source)


def _json_entry(entry: Any, where: str) -> tuple[tuple[int, ...], str]:
    if isinstance(entry, str):
        return parse_color(entry, where=where), ""
    if not isinstance(entry, dict):
        raise PaletteError(f"{where}: expected a hex string or an object, got {json.dumps(entry)}")
    if "hex" in entry:
        row = list(parse_color(str(entry["hex"]), where=where))
    elif isinstance(entry.get("rgb"), list) and len(entry["rgb"]) in (3, 4):
        row = [_json_byte(v, where) for v in entry["rgb"]] + [255] * (4 - len(entry["rgb"]))
    else:
        raise PaletteError(f'{where}: expected "hex": "#rrggbb" or "rgb": [r, g, b], got {json.dumps(entry)}')
    if "alpha" in entry:
        row[3] = _json_byte(entry["alpha"], where)
    name = entry.get("name", "")
    return tuple(row), name if isinstance(name, str) else str(name)


def _json_byte(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise PaletteError(f"{where}: {json.dumps(value)} is not a value 0-255")
    return int(value)


def format_json(palette: Palette, *, source: str = "") -> bytes:
    """The JSON palette: name, then each colour's hex code, alpha and name."""
    colors = [
        {"hex": hex_code(row[:3]), "alpha": int(row[3]), "name": palette.name_of(i)}
        for i, row in enumerate(palette.colors)
    ]
    document = {"name": palette.title, "colors": colors}
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# PNG ------------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_palette(raw: bytes, *, source: str) -> Palette | None:
    """The ``PLTE`` of an indexed PNG (alpha from ``tRNS``), in its order; ``None`` for a PNG
    of another colour type (its colours come from :func:`palette_from_pixels`)."""
    if not raw.startswith(_PNG_SIGNATURE):
        raise PaletteError(f"{source}: not a PNG file")
    chunks = _png_chunks(raw, source)
    header = chunks.get(b"IHDR", b"")
    if len(header) < 13 or header[9] != 3:
        return None
    plte = chunks.get(b"PLTE", b"")
    if not plte or len(plte) % 3 or len(plte) > 3 * MAX_COLORS:
        raise PaletteError(f"{source}: an indexed PNG without a valid PLTE chunk")
    count = len(plte) // 3
    alpha = np.full(count, 255, dtype=np.uint8)
    trns = chunks.get(b"tRNS", b"")[:count]
    alpha[: len(trns)] = np.frombuffer(trns, dtype=np.uint8)
    rgb = np.frombuffer(plte, dtype=np.uint8).reshape(count, 3)
    return Palette(np.ascontiguousarray(np.column_stack([rgb, alpha])))


def _png_chunks(raw: bytes, source: str) -> dict[bytes, bytes]:
    """The first chunk of each type up to ``IDAT`` (the palette chunks come before it)."""
    chunks: dict[bytes, bytes] = {}
    offset = len(_PNG_SIGNATURE)
    while offset + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[offset : offset + 8])
        body = raw[offset + 8 : offset + 8 + length]
        if len(body) < length:
            raise PaletteError(f"{source}: truncated PNG")
        if kind == b"IDAT":
            break
        chunks.setdefault(kind, body)
        offset += 12 + length
    return chunks


def palette_from_pixels(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None, *, source: str) -> Palette:
    """The distinct colours of an image, in the order they first appear row by row (fully
    transparent pixels are one colour, ``(0, 0, 0, 0)``); more than 256 is an error."""
    flat = rgb.reshape(-1, 3)
    a = np.full(len(flat), 255, dtype=np.uint8) if alpha is None else alpha.reshape(-1)
    rgba = np.column_stack([flat, a])
    rgba[a == 0] = 0
    keys = np.ascontiguousarray(rgba).view(np.uint32).reshape(-1)
    _, first = np.unique(keys, return_index=True)
    if len(first) > MAX_COLORS:
        raise PaletteError(
            f"{source}: has {len(first)} colours; an image used as a palette has at most {MAX_COLORS}"
        )
    return Palette(np.ascontiguousarray(rgba[np.sort(first)]))


# Colours on the command line --------------------------------------------------------------------


def parse_color(text: str, *, where: str) -> tuple[int, int, int, int]:
    """RGBA of ``#rrggbb``, ``rrggbb`` or ``#rrggbbaa``; ``where`` starts the error message."""
    found = re.fullmatch(r"(#?)([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})", text.strip())
    if not found or (len(found.group(2)) == 8 and not found.group(1)):
        raise PaletteError(f"{where}: {text!r} is not a colour (expected #rrggbb or #rrggbbaa)")
    r, g, b, a = _hex_digits(found.group(2), hash_sign=True)
    return r, g, b, a


def parse_keep(text: str) -> Palette:
    """The colours of a ``--keep`` value: ``#rrggbb`` (or ``rrggbb``) separated by commas,
    opaque, at most 256. Repeated colours are kept once, in the order given."""
    rows: list[tuple[int, ...]] = []
    for word in text.split(","):
        row = parse_color(word, where="--keep")
        if row[3] != 255:
            raise PaletteError(f"--keep: {word.strip()!r} is not opaque (kept colours are opaque #rrggbb)")
        if row not in rows:
            rows.append(row)
    return _finish(rows, [], "", "--keep")


# Shared -----------------------------------------------------------------------------------------


def _text(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # old palettes from Windows tools; names only


def _refuse_alpha(palette: Palette, what: str, source: str) -> None:
    if palette.has_alpha:
        raise PaletteError(
            f"{source or 'palette'}: {what} cannot hold colours that are not opaque (use .json or .hex)"
        )


def _finish(rows: list[tuple[int, ...]], names: list[str], title: str, source: str) -> Palette:
    if not rows:
        raise PaletteError(f"{source}: holds no colours")
    if len(rows) > MAX_COLORS:
        raise PaletteError(f"{source}: holds {len(rows)} colours; a PNG palette holds at most {MAX_COLORS}")
    colors = np.array(rows, dtype=np.uint8).reshape(len(rows), 4)
    keep_names = tuple(names) if any(names) else ()
    return Palette(colors, names=keep_names, title=title)
