"""The import graph (every import, deferred ones included) has no cycle and no upward edge; the doc's diagram is today's."""
from pathlib import Path

import pytest

from tests import import_graph
from tests.import_graph import Edge, committed_diagram, cycles, diagram, edges, floor_of, modules, violations


def test_no_module_imports_from_a_floor_above_its_own():
    assert violations(edges()) == []


def test_no_import_cycle():
    assert cycles(edges()) == []


def test_every_module_has_a_floor():
    for name in modules():
        floor_of(name)  # raises for a new top-level package that FLOORS does not place


def test_the_committed_diagram_is_generated_from_the_code():
    text = import_graph.DOC.read_text()
    assert committed_diagram(text) == diagram(), "run: python -m tests.import_graph --write"


def _fake_package(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    mods = {}
    for name, source in files.items():
        path = tmp_path / (name.replace(".", "_") + ".py")
        path.write_text(source)
        mods[name] = path
    return mods


def test_a_deferred_upward_import_and_a_facade_import_are_reported(tmp_path):
    mods = _fake_package(tmp_path, {
        "gankit.config": "def f():\n    from gankit.models import build\n",
        "gankit.models": "from gankit.config import TrainConfig\n",
        "gankit.tools": "def g():\n    import gankit\n    return gankit.load\n",
        "gankit.metrics.cli": "from gankit.training.trainer import pick_device\n",
        "gankit.training.trainer": "",
        "gankit": "",
    })
    found = edges(mods)
    assert Edge("gankit.config", "gankit.models", 2, True) in found
    problems = violations(found)
    assert len(problems) == 3
    assert "gankit.config line 2 (deferred) imports gankit.models" in problems[0] and "'families' is above 'config'" in problems[0]
    assert any("gankit.tools" in p and "not the gankit facade" in p for p in problems)
    assert any("gankit.metrics.cli" in p and "not on training" in p for p in problems)
    assert cycles(found) == [["gankit.config", "gankit.models"]]


def test_type_checking_imports_do_not_count(tmp_path):
    mods = _fake_package(tmp_path, {
        "gankit.training.hooks": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gankit.training.trainer import Trainer\n",
        "gankit.training.trainer": "from gankit.training.hooks import Hook\n",
    })
    assert [(e.source, e.target) for e in edges(mods)] == [("gankit.training.trainer", "gankit.training.hooks")]


def test_a_module_on_no_floor_is_named():
    with pytest.raises(ValueError, match="gankit_extra.x is on no floor"):
        floor_of("gankit_extra.x")
