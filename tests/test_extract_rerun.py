"""A warm rerun does no work: no embedding, no probe, no evaluation and no report again."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from mir_ref import stages
from mir_ref.experiment import Experiment
from tests.test_extract import config

pytestmark = pytest.mark.slow


def test_warm_rerun_skips_every_stage_until_an_input_changes(tmp_path, monkeypatch, embed_calls):
    spec = config(tmp_path, workers=1, models=[{"type": "mfcc"}])
    spec.update(probes=[{"type": "linear"}], protocol={"epochs": 5, "n_bootstrap": 20})
    evaluated = {"n": 0}
    evaluate = stages.evaluate

    def counted(experiment):
        evaluated["n"] += 1
        return evaluate(experiment)

    monkeypatch.setattr(stages, "evaluate", counted)
    first = stages.run_all(Experiment.from_config(spec))
    embedded = embed_calls["n"]
    report = tmp_path / "run" / "report" / "index.html"
    written = report.stat().st_mtime_ns

    second = stages.run_all(Experiment.from_config(spec))
    assert (embed_calls["n"], evaluated["n"]) == (embedded, 1)
    assert report.stat().st_mtime_ns == written
    pd.testing.assert_frame_equal(first, second)

    # New predictions (here: a file rewritten) are evaluated and reported again.
    predictions = next((tmp_path / "run" / "predictions").rglob("*.npz"))
    os.utime(predictions, ns=(written + 10**9, written + 10**9))
    third = stages.run_all(Experiment.from_config(spec))
    assert evaluated["n"] == 2
    pd.testing.assert_frame_equal(first, third)
