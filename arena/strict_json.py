"""Strict JSON out: what `JSON.parse` and every other standard parser accepts.

Python's `json.dumps` writes `NaN` and `Infinity` for non-finite floats, which is not JSON
(RFC 8259); here they become `null`. numpy scalars and arrays become plain numbers and lists.
"""

from __future__ import annotations

import json
import math
from typing import Any


def to_strict(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None, numpy values made plain, tuples as lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: to_strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict(v) for v in obj]
    if type(obj).__module__ == "numpy":
        return to_strict(obj.tolist() if hasattr(obj, "tolist") else obj.item())
    return obj


def dumps(obj: Any, **kw) -> str:
    """`json.dumps` of `to_strict(obj)` that refuses any NaN or Infinity left (`allow_nan=False`);
    values JSON has no type for are written with `str` (paths, timestamps)."""
    kw.setdefault("ensure_ascii", False)
    kw.setdefault("default", str)
    return json.dumps(to_strict(obj), allow_nan=False, **kw)
