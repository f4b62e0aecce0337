"""The report of a run, built from its tidy results table.

- :mod:`mir_ref.report.plots`: the clean-audio heatmap and the robustness curves (PNG).
- :mod:`mir_ref.report.html`: a self-contained ``index.html`` with the plots embedded.

Nothing is imported here, so that importing the package does not load matplotlib.
"""
