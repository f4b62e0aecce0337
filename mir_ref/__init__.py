"""mir_ref: evaluate audio representations on music information retrieval tasks.

``mir_ref.run(config)`` runs a config (a YAML path or a dict) and returns the results table;
``mir_ref.deformation(type, **params)`` and ``mir_ref.model(type, **params)`` build components
by their registered names.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["run", "deformation", "model", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import mir_ref` stays light (no torch, librosa) until something runs.
    if name in ("run", "deformation", "model"):
        # Deferred: loads pandas and rich, which many runs never need.
        from mir_ref import api

        return getattr(api, name)
    raise AttributeError(f"module 'mir_ref' has no attribute {name!r}")
