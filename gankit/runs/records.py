"""JSON records of a run folder (log.jsonl, metrics.jsonl, eval reports): strict JSON, NaN/Inf as null."""
from __future__ import annotations

import json
import math


def finite_or_none(value):
    """`value` with every non-finite float (NaN, Inf) inside dicts and lists replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def dumps(record, **kwargs) -> str:
    """json.dumps that writes null for NaN/Inf, so every reader of the file gets valid JSON."""
    return json.dumps(finite_or_none(record), allow_nan=False, **kwargs)
