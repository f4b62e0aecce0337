"""Key labels as the EDM key corpora write them (Faraldo's Beatport and GiantSteps files).

A label names one key (``Eb minor``), several (``F minor | Ab major``, ``C minor / F#
minor``), a mode outside major and minor (``A other``, ``D dorian``), an ambiguous tonic
(``A-A# minor``) or nothing (``unknown``, ``-``, ``x``). Only the first kind is a key;
the others leave the track out, as mirdata's users and the original mir_ref do.

Two faults of the releases are handled here once, for every key corpus: ``F#_ minor`` (a
stray underscore in Beatport) is repaired to ``F#:minor``, as the original mir_ref did; a
label shaped like one key but with a mangled tonic (``EB minor``) is an error naming the
file, not a new class.
"""

from __future__ import annotations

import re

from mir_ref.errors import DataError
from mir_ref.tasks import normalize_key

# A tonic followed by a stray underscore ('F#_ minor').
_STRAY_UNDERSCORE = re.compile(r"^(\s*[A-Ga-g][#b]?)_(?=\s)")
# One tonic and a major/minor mode in any letter case: the shape of a one-key label.
_ONE_KEY_SHAPE = re.compile(r"^\s*[A-Ga-g][#b]?\s*[:\s]?\s*(major|minor|maj|min)\s*$", re.I)


def single_key(label: str, *, source: str = "") -> str | None:
    """The key ``label`` names, as ``'<tonic>:<mode>'``; ``None`` unless it names exactly one.

    ``'Bb minor'`` → ``'A#:minor'``; ``'F#_ minor'`` → ``'F#:minor'``; ``'F minor | Ab
    major'``, ``'A other'``, ``'A-A# minor'``, ``'-'``, ``'unknown'`` → ``None``.

    Raises
    ------
    DataError
        The label has the shape of one key but its tonic is mangled (``'EB minor'``);
        ``source`` (the file, or file and line) is named in the message.
    """
    text = _STRAY_UNDERSCORE.sub(r"\1", str(label)).strip()
    try:
        return normalize_key(text)
    except ValueError:
        pass
    if _ONE_KEY_SHAPE.match(text):
        where = f"{source}: " if source else ""
        raise DataError(
            f"{where}key label '{label}' is not one of the 24 keys: a tonic is a letter A-G "
            f"and an optional '#' or lower-case 'b' (e.g. 'Eb minor', 'F# major'); correct "
            f"the file"
        )
    return None
