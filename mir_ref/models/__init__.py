"""Embedding models: hand-made features and adapters to pretrained networks."""

from mir_ref.models.base import EmbeddingModel

__all__ = ["EmbeddingModel"]
