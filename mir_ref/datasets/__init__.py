"""Datasets: tracks, their labels and splits, one module per dataset (found automatically)."""

from mir_ref.datasets.base import SPLITS, Dataset, Track, stratified_split

__all__ = ["SPLITS", "Dataset", "Track", "stratified_split"]
