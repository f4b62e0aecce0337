"""Notes on a conversion: what changed meaning or was dropped, attached to a key of the result.

A converter records a :class:`Note` wherever the original config's meaning does not carry over
unchanged. ``mir_ref convert`` writes them as ``# comments`` above the key they concern;
running an original config logs them once each instead.
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

log = logging.getLogger("mir_ref.legacy")

_WIDTH = 100

Path_ = tuple[str | int, ...]
"""A key path into the converted config: ``("probes", 0, "batch_size")``."""


@dataclass(frozen=True)
class Note:
    """One remark on the conversion.

    Parameters
    ----------
    path : the key of the converted config it concerns (``()``: the whole file).
    text : the remark, one sentence or two.
    level : ``warning`` where results may differ from the original's or a key was ignored,
        ``info`` where the meaning carried over under another name.
    """

    path: Path_
    text: str
    level: Literal["info", "warning"] = "info"


@dataclass
class Notes:
    """The notes of one converted config, in the order they were made."""

    items: list[Note] = field(default_factory=list)

    def add(self, path: Path_, text: str, *, warning: bool = False) -> None:
        """Record ``text`` on ``path``, once (the same remark on the same key is kept once)."""
        note = Note(tuple(path), text, "warning" if warning else "info")
        if note not in self.items:
            self.items.append(note)

    def at(self, path: Path_) -> list[str]:
        """The texts recorded on exactly ``path``."""
        return [note.text for note in self.items if note.path == tuple(path)]

    def log(self, source: str, *, seen: set[str]) -> None:
        """Log each note whose text is not in ``seen`` (then added to it), so a remark on many
        probes or parts is said once: warnings as warnings, the rest at debug level (the
        converted file's comments show them)."""
        for note in self.items:
            if note.text in seen:
                continue
            seen.add(note.text)
            level = logging.WARNING if note.level == "warning" else logging.DEBUG
            log.log(level, "%s: %s", source, note.text)


def commented_yaml(data: dict[str, Any], notes: Notes, *, header: list[str]) -> str:
    """``data`` as block YAML with each note as ``# comment`` lines above the key it concerns.

    ``yaml.safe_load`` of the result equals ``data``; notes on keys that ``data`` lacks (a
    dropped key) are written above the closest existing parent.
    """
    placed = _place(data, notes)
    lines = [line.rstrip() for line in _comment_lines(header, indent="")]
    lines += _comment_lines(placed.get((), []), indent="")
    lines += _block(data, (), "", placed)
    return "\n".join(lines) + "\n"


def _place(data: Any, notes: Notes) -> dict[Path_, list[str]]:
    placed: dict[Path_, list[str]] = {}
    for note in notes.items:
        path = note.path
        while path and not _exists(data, path):
            path = path[:-1]
        placed.setdefault(path, []).append(note.text)
    return placed


def _exists(data: Any, path: Path_) -> bool:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return False
    return True


def _comment_lines(texts: list[str], *, indent: str) -> list[str]:
    width = max(40, _WIDTH - len(indent) - 2)
    return [
        f"{indent}# {line}"
        for text in texts
        for line in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
        or [""]
    ]


def _scalar(value: Any) -> str:
    """One value in flow style (scalars, and short lists or mappings of scalars)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _is_flat(value: Any, *, depth: int = 1) -> bool:
    """Short enough for one line: scalars, or (up to ``depth`` levels) lists of scalars in a
    mapping of scalars, like ``{type: mlp, hidden: [8]}``."""
    if isinstance(value, dict):
        return depth > 0 and all(_is_flat(v, depth=depth - 1) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict | list) for v in value)
    return True


def _block(value: Any, path: Path_, indent: str, placed: dict[Path_, list[str]]) -> list[str]:
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = (*path, key)
            lines += _comment_lines(placed.get(child, []), indent=indent)
            lines += _entry(f"{indent}{_scalar(key)}:", item, child, indent, placed)
    else:  # a list
        for index, item in enumerate(value):
            child = (*path, index)
            lines += _comment_lines(placed.get(child, []), indent=indent)
            lines += _entry(f"{indent}-", item, child, indent, placed, in_list=True)
    return lines


def _entry(
    lead: str,
    item: Any,
    path: Path_,
    indent: str,
    placed: dict[Path_, list[str]],
    *,
    in_list: bool = False,
) -> list[str]:
    nested_notes = any(len(p) > len(path) and p[: len(path)] == path for p in placed)
    if _is_flat(item) and not nested_notes:
        return [f"{lead} {_scalar(item)}"]
    inner = _block(item, path, indent + "  ", placed)
    if in_list and isinstance(item, dict) and inner and not inner[0].lstrip().startswith("#"):
        # "- key: value" on one line, the rest of the mapping aligned under it.
        return [f"{lead} {inner[0].lstrip()}", *inner[1:]]
    return [lead, *inner]
