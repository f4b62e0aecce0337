"""mir_ref: evaluate audio representations on music information retrieval tasks."""

__version__ = "0.1.0"
