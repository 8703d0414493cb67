"""The official Teams manifest JSON schemas, checked offline with jsonschema the way Microsoft's tools check them.

Needs `jsonschema` and `referencing` (requirements-dev.txt): `manifest.checks` imports this module
only when they are installed, so the package builds from a runtime-only install and says what it
did not check.

Microsoft's validators (npm `@microsoft/app-manifest`, the Agents Toolkit's `atk validate`) run ajv:
draft 4 plus `const` (the manifest schemas use it for `manifestVersion`) and the `uri`, `email` and
`regex` formats. ajv also applies the keywords written next to a `$ref`, where plain draft 4 ignores
them: the localization schema limits `description.short` to 80 characters that way, and
`atk validate` refused a 101-character French one that jsonschema had let through.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

from manifest.checks import LOCALIZATION_SCHEMA_FILE, MANIFEST_FILE, SCHEMA_DIR, SCHEMA_FILE

SCHEMA_URL = "https://developer.microsoft.com/json-schemas/teams/v{version}/{file}"
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*")
# Keywords that only annotate: a `$ref` next to them needs no rewriting.
_ANNOTATIONS = frozenset({"$ref", "description", "title", "default", "examples", "deprecationMessage"})


def schema_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What the official schema of the manifest's `manifestVersion` says is wrong."""
    version = manifest.get("manifestVersion")
    validator = _validator(version) if isinstance(version, str) else None
    if validator is None:
        have = ", ".join(sorted(p.parent.name[1:] for p in SCHEMA_DIR.glob(f"v*/{SCHEMA_FILE}")))
        return [f"manifestVersion {version!r} has no schema in manifest/schema/ (there: {have})."]
    return _problems(validator, manifest)


def language_file_problems(name: str, strings: Mapping[str, Any], manifest_version: object) -> list[str]:
    """A language file (e.g. fr-ca.json) against the localization schema of the manifest's version."""
    validator = _validator(str(manifest_version), LOCALIZATION_SCHEMA_FILE)
    if validator is None:
        return [f"{name}: no localization schema for manifestVersion {manifest_version!r}."]
    return _problems(validator, strings, name)


def _problems(validator: Draft4Validator, instance: Any, file: str = MANIFEST_FILE) -> list[str]:
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [_describe(error, file) for error in errors]


def _const(validator: Any, const: Any, instance: Any, schema: Any) -> Iterable[ValidationError]:
    if instance != const or type(instance) is not type(const):
        yield ValidationError(f"{const!r} was expected, not {instance!r}")


_TeamsValidator = validators.extend(Draft4Validator, {"const": _const})

_FORMATS = FormatChecker(["email", "regex"])


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    # ajv-formats checks RFC 3986; an absolute URI with a scheme and no spaces is what matters here.
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


def _refuse_remote(uri: str) -> Resource:
    # Validation is offline: a reference outside manifest/schema/ is a missing file, never a download.
    raise NoSuchResource(ref=uri)


@cache
def _validator(version: str, schema_file: str = SCHEMA_FILE) -> Draft4Validator | None:
    folder = SCHEMA_DIR / f"v{version}"
    if not re.fullmatch(r"[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*", version) or not (folder / schema_file).is_file():
        return None
    registry: Registry = Registry(retrieve=_refuse_remote)
    root: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        contents = json.loads(path.read_text("utf-8"))
        # The files carry no `id`: give each the address it is published at, so that references
        # between them (relative or absolute) resolve to the local copies.
        contents["id"] = SCHEMA_URL.format(version=version, file=path.name)
        contents = _keep_ref_siblings(_inline_deep_pointers(contents, contents))
        registry = registry.with_resource(contents["id"], Resource.from_contents(contents, DRAFT4))
        if path.name == schema_file:
            root = contents
    return _TeamsValidator(root, registry=registry, format_checker=_FORMATS)


def _keep_ref_siblings(node: Any) -> Any:
    """`{"$ref": r, "maxLength": 80}` as `{"allOf": [{"$ref": r}], "maxLength": 80}`: both apply, as in ajv."""
    if isinstance(node, list):
        return [_keep_ref_siblings(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _keep_ref_siblings(value) for key, value in node.items()}
    if "$ref" in node and not set(node) <= _ANNOTATIONS:
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {"allOf": [{"$ref": node["$ref"]}, *siblings.pop("allOf", [])], **siblings}
    return node


def _inline_deep_pointers(node: Any, document: Mapping[str, Any], depth: int = 0) -> Any:
    """The schema with each `$ref` that points outside `#/definitions/` replaced by what it points to.

    referencing 0.37 walks a pointer such as `#/properties/a/items/properties/b` through the
    `properties` object and, when that object has a property named "id", takes it for a draft 4
    schema id and crashes (AttributeError). Pointers into definitions are unaffected. A copy of
    the target means the same as the reference (its siblings are kept by `_keep_ref_siblings`).
    """
    if isinstance(node, list):
        return [_inline_deep_pointers(item, document, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and not ref.startswith("#/definitions/"):
        if depth > 20:
            raise ValueError(f"the schema's $ref {ref} refers to itself")
        target: Any = document
        for segment in ref[2:].split("/"):
            segment = segment.replace("~1", "/").replace("~0", "~")
            target = target[int(segment)] if isinstance(target, list) else target[segment]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        inlined = _inline_deep_pointers(copy.deepcopy(target), document, depth + 1)
        return {"allOf": [inlined], **siblings} if set(siblings) - _ANNOTATIONS else inlined
    return {key: _inline_deep_pointers(value, document, depth) for key, value in node.items()}


def _describe(error: ValidationError, file: str) -> str:
    if error.context:
        # anyOf/oneOf: name the closest branch's complaint, not "is not valid under any of".
        error = best_match(error.context)
    limit, instance = error.validator_value, error.instance
    if error.validator in ("maxItems", "minItems") and isinstance(instance, list):
        bound = "at most" if error.validator == "maxItems" else "at least"
        message = f"has {len(instance)} items; {bound} {limit} allowed"
    elif error.validator in ("maxLength", "minLength") and isinstance(instance, str):
        bound = "at most" if error.validator == "maxLength" else "at least"
        message = f"{_short(repr(instance))} has {len(instance)} characters; {bound} {limit} allowed"
    else:
        message = _short(error.message)
    where = _path(error.absolute_path)
    return f"{file} {where}: {message}" if where else f"{file}: {message}"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
