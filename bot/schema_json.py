"""Bot Framework schema objects (msrest models) to JSON, without msrest's generic serializer.

`Model.serialize()` looks up every attribute's declared type, its key transformer and its
validation rules, for every object and on every call: under load it was about 12 % of the bot's
Python time (outgoing activities, conversation references, invoke responses; py-spy, README
Performance). The botbuilder schema uses a small part of what msrest supports (no flattened
keys, no additional properties, no read-only attributes), so this walks `_attribute_map` with
msrest's rules for those types and gives the same JSON; `tests/test_schema_json.py` compares
the two on every kind of object the bot sends. Anything outside that part is handed to msrest.
"""

from __future__ import annotations

import datetime
from typing import Any

from msrest.serialization import Model, Serializer

_BASIC = (str, int, float, bool)
_PRIMITIVES = frozenset({"str", "bool", "int", "long", "float", "iso-8601", "object", "bytearray"})


class _Unusual(Exception):
    """A value this module does not convert the way msrest would: msrest does it instead."""


def to_json(model: Model) -> dict[str, Any]:
    """`model.serialize()`, the same JSON, faster."""
    try:
        return _model(model)
    except _Unusual:
        return model.serialize()


def _model(model: Model) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, desc in type(model)._attribute_map.items():
        value = getattr(model, attr, None)
        if value is not None:
            out[desc["key"]] = _typed(value, desc["type"])
    return out


def _typed(value: Any, kind: Any) -> Any:
    if not isinstance(kind, str):
        raise _Unusual
    if kind == "str":
        if type(value) is str:
            return value
        enum_value = getattr(value, "value", None)
        if isinstance(enum_value, str):
            return enum_value
        raise _Unusual
    if kind == "object":
        return _object(value)
    if kind == "bool" and type(value) is bool:
        return value
    if kind in ("int", "long") and type(value) is int:
        return value
    if kind == "float" and type(value) in (int, float):
        return float(value)
    if kind == "iso-8601" and isinstance(value, datetime.datetime):
        return Serializer.serialize_iso(value)
    if kind.startswith("[") and kind.endswith("]") and type(value) is list:
        inner = kind[1:-1]
        if any(item is None for item in value):
            raise _Unusual
        return [_typed(item, inner) for item in value]
    if kind.startswith("{") and kind.endswith("}") and type(value) is dict:
        inner = kind[1:-1]
        if any(type(key) is not str or item is None for key, item in value.items()):
            raise _Unusual
        return {key: _typed(item, inner) for key, item in value.items()}
    if isinstance(value, Model) and not kind.startswith(("[", "{")) and kind not in _PRIMITIVES:
        return _model(value)  # as msrest: by the object's own attribute map (a subclass too)
    raise _Unusual


def _object(value: Any) -> Any:
    """msrest's `serialize_object` for plain JSON, models, and datetimes inside it."""
    kind = type(value)
    if kind in _BASIC or value is None:
        return value
    if kind is dict:
        if any(type(key) is not str for key in value):
            raise _Unusual
        return {key: _object(item) for key, item in value.items()}
    if kind is list:
        return [_object(item) for item in value]
    if isinstance(value, Model):
        return _model(value)
    if kind is datetime.datetime:
        return Serializer.serialize_iso(value)
    raise _Unusual
