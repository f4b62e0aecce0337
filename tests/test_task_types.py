"""A task type is an object that owns what differs between task types; callers ask it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import REPO

from mir_ref.tasks import KEYS, TASK_TYPES, Task

LABELS = {
    "multiclass": (["b", "a", "b"], ["a", "b"]),
    "multilabel": ([["a"], ["a", "b"], []], ["a", "b"]),
    "regression": ([1.5, -2.0, 0.25], []),
    "key": (["C:major", "A:minor", "C:major"], []),
}


@pytest.mark.parametrize("name", sorted(TASK_TYPES))
def test_each_type_encodes_labels_in_the_shape_it_declares(name):
    labels, classes = LABELS[name]
    task = Task("t", name, classes=list(classes))
    task_type = TASK_TYPES[name]
    encoded = task.encode(labels)
    assert encoded.shape == task_type.label_shape(len(labels), task.classes)
    assert task.output_size == task_type.output_size(task.classes)
    assert task.metrics == list(task_type.default_metrics)
    assert task.label_kind == task_type.label_kinds[0]
    # A loss that matches the activation: softmax with cross-entropy, and so on.
    assert (task_type.activation, task_type.loss) in {
        ("softmax", "cross_entropy"),
        ("sigmoid", "binary_cross_entropy"),
        ("identity", "squared_error"),
    }
    if task_type.one_class:
        assert encoded.dtype == np.int64
    elif not task_type.has_classes:
        assert np.isnan(task_type.missing_label())


def test_a_key_task_has_the_24_keys_and_one_class_per_item():
    task = Task("key", "key")
    assert task.classes == KEYS and task.task_type.one_class
    assert task.encode(["A:minor"]).tolist() == [KEYS.index("A:minor")]


def test_a_label_kind_the_type_does_not_take_is_refused_naming_the_types_that_do():
    with pytest.raises(ValueError, match="label_kind 'tempo' needs a regression task"):
        Task("t", "multiclass", classes=["a"], label_kind="tempo")


def test_no_module_but_the_task_types_branches_on_a_type_name():
    pattern = re.compile(r"task.type ==|\.type in \(")
    branching = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "mir_ref").rglob("*.py"))
        if path.name != "tasks.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert branching == []
