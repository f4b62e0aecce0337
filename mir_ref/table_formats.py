"""A paper table (:class:`PaperTable`, built by :mod:`mir_ref.export`) written as LaTeX
(a ``table`` float around a booktabs ``tabular``), Markdown (a pipe table) or CSV."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from mir_ref.errors import MirRefError

FORMATS = {"latex": "tex", "markdown": "md", "csv": "csv"}
"""Export formats and their file extensions."""
_NEGATIVE = re.compile(r"(?<![\w.])-(?=\d)")
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "†": r"$^\dagger$", "±": r"$\pm$", "−": r"$-$", "×": r"$\times$", "α": r"$\alpha$",
    "∈": r"$\in$", "≥": r"$\geq$",
}  # fmt: skip


@dataclass
class PaperTable:
    """A table ready to render: header rows, body rows of cells, a caption and a footnote.

    ``cells`` hold plain text; ``bold`` marks which to set in bold (the best mean) and
    ``tidy`` is the same content as a tidy table (the CSV export).
    """

    caption: str
    header: list[list[str]]
    """One or two header rows, each as long as a body row (the first columns name rows)."""
    rows: list[list[str]]
    bold: list[list[bool]]
    footnote: str
    tidy: pd.DataFrame
    label_columns: int = 1
    """Leading columns of text (model, task); the rest are numbers."""
    groups: list[int] = field(default_factory=list)
    """Body rows before which a rule separates groups (robustness: each task)."""


def render(table: PaperTable, fmt: str) -> str:
    """``table`` as LaTeX (a ``table`` float with a booktabs ``tabular``), Markdown (a pipe
    table, caption and footnote) or CSV (its tidy form)."""
    if fmt == "csv":
        return table.tidy.to_csv(index=False)
    if fmt == "markdown":
        return _markdown(table)
    if fmt == "latex":
        return _latex(table)
    raise MirRefError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")


def _markdown(table: PaperTable) -> str:
    def cell(text: str, bold: bool = False) -> str:
        text = text.replace("|", r"\|")
        if bold and text:
            mean, _, rest = text.partition(" ")
            text = f"**{mean}**" + (f" {rest}" if rest else "")
        return text

    header = [
        " ".join(part for part in parts if part).strip()
        for parts in zip(*table.header, strict=True)
    ]
    width = len(header)
    lines = [f"**{cell(table.caption)}**", ""]
    lines.append("| " + " | ".join(cell(name) for name in header) + " |")
    aligns = ["---"] * table.label_columns + ["---:"] * (width - table.label_columns)
    lines.append("| " + " | ".join(aligns) + " |")
    for row, bold in zip(table.rows, table.bold, strict=True):
        lines.append("| " + " | ".join(cell(t, b) for t, b in zip(row, bold, strict=True)) + " |")
    lines += ["", table.footnote, ""]
    return "\n".join(lines)


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters (and the few symbols the tables use)
    written so that plain LaTeX typesets them."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def _latex(table: PaperTable) -> str:
    """A ``table`` float: caption, the tabular (pandas' Styler, booktabs rules) and the
    footnote; it needs ``booktabs`` and nothing else."""

    def cell(text: str, bold: bool) -> str:
        # A minus sign, not a hyphen, before a number.
        text = _NEGATIVE.sub("−", text)
        if not bold:
            return latex_escape(text)
        mean, _, rest = text.partition(" ")
        return rf"\textbf{{{latex_escape(mean)}}}" + (f" {latex_escape(rest)}" if rest else "")

    body = [
        [cell(text, bold) for text, bold in zip(row, flags, strict=True)]
        for row, flags in zip(table.rows, table.bold, strict=True)
    ]
    levels = [[latex_escape(_NEGATIVE.sub("−", name)) for name in level] for level in table.header]
    frame = pd.DataFrame(body, columns=pd.MultiIndex.from_arrays(levels))
    styler = frame.style.hide(axis="index")
    width = len(table.header[0])
    tabular = styler.to_latex(
        column_format="l" * table.label_columns + "c" * (width - table.label_columns),
        hrules=True,
        multicol_align="c",
    )
    if table.groups:
        lines = tabular.splitlines()
        start = lines.index(r"\midrule") + 1
        for offset, group in enumerate(table.groups):
            lines.insert(start + group + offset, r"\midrule")
        tabular = "\n".join(lines) + "\n"
    return (
        "\\begin{table}[t]\n\\centering\n"
        f"\\caption{{{latex_escape(table.caption)}}}\n"
        "\\small\n"
        f"{tabular}"
        "\\par\\smallskip\n"
        f"\\parbox{{\\linewidth}}{{\\footnotesize {latex_escape(table.footnote)}}}\n"
        "\\end{table}\n"
    )
