"""Audio deformations for robustness evaluation, one small registered class each."""

from mir_ref.deformations.base import Deformation

__all__ = ["Deformation"]
