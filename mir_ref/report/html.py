"""The report page: sections of figures, tables, audio clips and text, rendered to one
self-contained ``index.html`` (images and audio inlined as data URIs; no scripts, no network).

Rendering autoescapes every string: model, dataset, class and probe names come from user
configs, data and plugins.
"""

from __future__ import annotations

import base64
import datetime
import functools
import importlib.resources
import logging
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from mir_ref import __version__
from mir_ref.atomic import atomic_write_text

logger = logging.getLogger(__name__)


@dataclass
class Cell:
    """One table cell; numbers are right-aligned."""

    text: str
    number: bool = False


@dataclass
class Row:
    """One table row; a highlighted row is set in bold."""

    cells: list[Cell]
    highlight: bool = False


@dataclass
class Block:
    """One item of a section: a ``figure``, ``table``, ``clips`` or ``text`` block."""

    kind: str
    caption: str
    uri: str = ""
    width: int = 0
    height: int = 0
    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    clips: list[dict[str, str]] = field(default_factory=list)
    text: str = ""


@dataclass
class Section:
    """A titled part of the page, linked from the navigation bar by ``id``."""

    id: str
    title: str
    intro: str = ""
    blocks: list[Block] = field(default_factory=list)

    def figure(self, path: str | Path, caption: str) -> None:
        """Add a PNG, inlined, with its caption."""
        data = Path(path).read_bytes()
        width, height = _png_size(data)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        self.blocks.append(Block("figure", caption, uri=uri, width=width, height=height))

    def table(self, caption: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Add a table with a caption above it."""
        self.blocks.append(Block("table", caption, columns=list(columns), rows=list(rows)))

    def clips(self, caption: str, clips: Sequence[tuple[str, str]]) -> None:
        """Add a group of audio players, given as ``(label, data URI)`` pairs."""
        entries = [{"label": label, "uri": uri} for label, uri in clips]
        self.blocks.append(Block("clips", caption, clips=entries))

    def text(self, caption: str, text: str) -> None:
        """Add preformatted text (a config, a listing), folded under its caption."""
        self.blocks.append(Block("text", caption, text=text))


def number(value: object, digits: int = 3) -> Cell:
    """A numeric cell, ``–`` for missing values."""
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Cell(str(value))
    if math.isnan(value):
        return Cell("–", number=True)
    if value.is_integer() and abs(value) >= 1000:
        return Cell(f"{value:,.0f}", number=True)
    return Cell(f"{value:.{digits}f}", number=True)


def write_page(sections: Sequence[Section], out_dir: str | Path, *, title: str) -> Path:
    """Write ``index.html`` with ``sections`` in order.

    Parameters
    ----------
    sections : the page's sections.
    out_dir : the folder to write into; created if missing.
    title : the page's title.

    Returns
    -------
    Path
        The path of ``index.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = _template().render(
        title=title,
        sections=sections,
        version=__version__,
        written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path = out_dir / "index.html"
    atomic_write_text(path, page)
    logger.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path


@functools.cache
def _template() -> jinja2.Template:
    source = importlib.resources.files("mir_ref.report").joinpath("templates/report.html.j2")
    environment = jinja2.Environment(
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    return environment.from_string(source.read_text(encoding="utf-8"))


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its header, so the page reserves the image's space."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, 0
    width, height = struct.unpack(">II", data[16:24])
    return width, height
