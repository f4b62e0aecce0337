"""Downstream probes trained on embeddings."""

from mir_ref.probes.base import Probe

__all__ = ["Probe"]
