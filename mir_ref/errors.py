"""The one exception family of mir_ref.

Every message names the bad thing (config key, file, track), the bad value, the allowed set
and, where it helps, the next step.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MirRefError(Exception):
    """Base class of every error mir_ref raises on purpose."""


class ConfigError(MirRefError):
    """The configuration is invalid (unknown key, wrong type, bad value, unknown component)."""


class DataError(MirRefError):
    """A dataset, its labels or its audio cannot be used as asked."""


class AudioError(DataError):
    """An audio file is missing or cannot be decoded."""


class ComponentError(MirRefError):
    """A component (model, deformation, probe, metric) failed while running."""


class CacheError(MirRefError):
    """The cache cannot be written (disk full) or an entry in it is damaged."""


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""
