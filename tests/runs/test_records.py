"""Run records are strict JSON: NaN and Inf become null."""
import json
import math

from gankit.runs.records import dumps, finite_or_none


def test_non_finite_values_become_null_at_any_depth():
    record = {"step": 3, "loss/D": math.nan, "floor": {"kl": math.inf, "xs": [1.5, -math.inf]}, "ok": True}
    text = dumps(record)
    assert json.loads(text, parse_constant=lambda c: 1 / 0) == {
        "step": 3, "loss/D": None, "floor": {"kl": None, "xs": [1.5, None]}, "ok": True}
    assert finite_or_none((0.5, "a")) == [0.5, "a"]
