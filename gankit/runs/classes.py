"""The class-name <-> index map of a run's labelled data (`classes.json` in the run folder, GUIDE §4).

`{"dataset": "pets", "classes": ["cats", "dogs"]}`: class k is `classes[k]`. `class_index` turns what a
user types after `--class` (an index, or a name in any letter case) into the index a conditional G takes.
"""
from __future__ import annotations

import json
from pathlib import Path

from gankit.errors import GankitError

CLASS_MAP = "classes.json"


def save_class_map(run_dir: str | Path, classes: list[str], dataset: str) -> Path:
    """Write classes.json into the run folder; returns its path."""
    path = Path(run_dir) / CLASS_MAP
    path.write_text(json.dumps({"dataset": dataset, "classes": list(classes)}, indent=1) + "\n")
    return path


def run_folder(path: str | Path) -> Path:
    """The run folder of a run or of one of its checkpoint folders (runs/x/checkpoints/00000100 -> runs/x)."""
    path = Path(path)
    return path.parent.parent if (path / "manifest.json").is_file() and path.parent.name == "checkpoints" else path


def load_class_map(path: str | Path) -> list[str] | None:
    """The class names saved with a run (or a checkpoint of it), or None when it has none."""
    file = run_folder(path) / CLASS_MAP
    try:
        return [str(name) for name in json.loads(file.read_text())["classes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def class_index(path: str | Path, value: str, c_dim: int) -> int:
    """The label index of `--class VALUE`: an integer in [0, c_dim), or a class name of the run (any case)."""
    names = load_class_map(path)
    shown = f" ({', '.join(names)})" if names else ""
    try:
        index = int(value)
    except ValueError:
        if not names:
            raise GankitError(f"--class {value!r}: this run saved no class names ({CLASS_MAP}); "
                              f"give an index 0..{c_dim - 1}") from None
        folded = [name.casefold() for name in names]
        if value.casefold() not in folded:
            raise GankitError(f"--class {value!r} is not a class of this run; classes: {', '.join(names)}") from None
        index = folded.index(value.casefold())
    if not 0 <= index < c_dim:
        raise GankitError(f"--class {value} is out of range: this generator has classes 0..{c_dim - 1}{shown}")
    return index
