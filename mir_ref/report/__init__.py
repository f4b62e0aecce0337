"""The report of a run: one self-contained HTML page built from the run folder alone.

- :mod:`mir_ref.report.build`: ``write_report(output_dir)``, the entry point, and the order of
  the sections.
- :mod:`mir_ref.report.run_folder`: reading the run's required and optional files.
- :mod:`mir_ref.report.tables`: summaries of the results table (best probes, rankings,
  robustness, non-linearity gap, sweeps).
- :mod:`mir_ref.report.analysis`: per-class analysis of stored predictions (confusions,
  pitch-class orders, octave errors, MIREX key-error categories, per-tag AUC).
- :mod:`mir_ref.report.plots`, :mod:`~mir_ref.report.curves`, :mod:`~mir_ref.report.class_plots`:
  the figures (matplotlib, PNG).
- :mod:`mir_ref.report.sections`, :mod:`~mir_ref.report.class_sections`,
  :mod:`~mir_ref.report.run_sections`: one builder per section, each skipped without data.
- :mod:`mir_ref.report.listening`: short WAV clips as data URIs.
- :mod:`mir_ref.report.html`: the page's blocks and its rendering (jinja2, autoescaped).

Nothing is imported here, so that importing the package does not load matplotlib.
"""
