"""Offline checks of a Teams app package: the official manifest schema, then the rules Teams adds.

Each check returns problems as one-line sentences; an empty list means the package is fine.
The schema check behaves like `AppManifestUtils.validateAgainstSchema` of npm `@microsoft/app-manifest`
(ajv draft-04 with the `uri`, `email` and `regex` formats), which also enforces `const`: plain
draft 4 has no `const`, and the manifest schemas use it for `manifestVersion`.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import best_match
from PIL import Image, UnidentifiedImageError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

MANIFEST_FILE = "manifest.json"
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILE = "MicrosoftTeams.schema.json"
LOCALIZATION_SCHEMA_FILE = "MicrosoftTeams.Localization.schema.json"
SCHEMA_URL = "https://developer.microsoft.com/json-schemas/teams/v{version}/{file}"

ICON_SIZES = {"color": (192, 192), "outline": (32, 32), "color32x32": (32, 32)}

GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# From semver.org, "Is there a suggested regular expression (RegEx) to check a SemVer string?"
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
BARE_HOST = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})+", re.IGNORECASE)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*")


def check_package(files: Mapping[str, bytes]) -> list[str]:
    """Every problem of a package given as {file name at the zip root: content}."""
    if MANIFEST_FILE not in files:
        return [f"{MANIFEST_FILE} is missing from the package root."]
    try:
        manifest = json.loads(files[MANIFEST_FILE].decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{MANIFEST_FILE} is not valid JSON: {exc}."]
    if not isinstance(manifest, dict):
        return [f"{MANIFEST_FILE} must hold a JSON object."]
    return schema_problems(manifest) + package_problems(manifest, files)


def schema_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What the official schema of the manifest's `manifestVersion` says is wrong."""
    version = manifest.get("manifestVersion")
    validator = _validator(version) if isinstance(version, str) else None
    if validator is None:
        have = ", ".join(sorted(p.parent.name[1:] for p in SCHEMA_DIR.glob(f"v*/{SCHEMA_FILE}")))
        return [f"manifestVersion {version!r} has no schema in manifest/schema/ (there: {have})."]
    errors = sorted(
        validator.iter_errors(manifest), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [_describe(error) for error in errors]


def package_problems(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> list[str]:
    """The rules Teams applies on upload that the schema does not express."""
    problems: list[str] = []
    app_id = manifest.get("id")
    if not (isinstance(app_id, str) and GUID.fullmatch(app_id)):
        problems.append(f"id {app_id!r} is not a GUID: use the bot's Microsoft App ID (MicrosoftAppId).")
    version = manifest.get("version")
    if not (isinstance(version, str) and SEMVER.fullmatch(version)):
        problems.append(f"version {version!r} is not a semantic version like 1.0.0 (TEAMS_APP_VERSION).")
    problems += _schema_url_problems(manifest)
    problems += _bot_problems(manifest, app_id)
    problems += _icon_problems(manifest, files)
    problems += _localization_problems(manifest, files)
    problems += _domain_problems(manifest)
    problems += _developer_problems(manifest)
    return problems


# -- schema ---------------------------------------------------------------------------------------


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
        contents = _inline_deep_pointers(contents, contents)
        registry = registry.with_resource(contents["id"], Resource.from_contents(contents, DRAFT4))
        if path.name == schema_file:
            root = contents
    return _TeamsValidator(root, registry=registry, format_checker=_FORMATS)


def _inline_deep_pointers(node: Any, document: Mapping[str, Any], depth: int = 0) -> Any:
    """The schema with each `$ref` that points outside `#/definitions/` replaced by what it points to.

    referencing 0.37 walks a pointer such as `#/properties/a/items/properties/b` through the
    `properties` object and, when that object has a property named "id", takes it for a draft 4
    schema id and crashes (AttributeError). Pointers into definitions are unaffected. A copy of
    the target means the same as the reference: draft 4 ignores a `$ref`'s sibling keywords.
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
        return _inline_deep_pointers(copy.deepcopy(target), document, depth + 1)
    return {key: _inline_deep_pointers(value, document, depth) for key, value in node.items()}


def _describe(error: ValidationError) -> str:
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
    return f"{MANIFEST_FILE} {where}: {message}" if where else f"{MANIFEST_FILE}: {message}"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- package rules --------------------------------------------------------------------------------


def _schema_url_problems(manifest: Mapping[str, Any]) -> list[str]:
    url, version = manifest.get("$schema"), manifest.get("manifestVersion")
    if (
        isinstance(url, str)
        and isinstance(version, str)
        and not url.rstrip("#").endswith(f"/v{version}/{SCHEMA_FILE}")
    ):
        return [f"$schema {url!r} does not name the schema of manifestVersion {version}."]
    return []


def _bot_problems(manifest: Mapping[str, Any], app_id: object) -> list[str]:
    problems: list[str] = []
    for i, bot in _items(manifest.get("bots")):
        where = f"bots[{i}]"
        bot_id = bot.get("botId")
        if isinstance(bot_id, str) and isinstance(app_id, str) and bot_id.lower() != app_id.lower():
            problems.append(
                f"{where}.botId {bot_id} differs from id {app_id}: this app is one bot, "
                "so both are the bot's Microsoft App ID."
            )
        bot_scopes = bot.get("scopes") if isinstance(bot.get("scopes"), list) else []
        seen: dict[str, int] = {}
        for j, command_list in _items(bot.get("commandLists")):
            scopes = command_list.get("scopes") if isinstance(command_list.get("scopes"), list) else []
            for scope in scopes:
                if scope not in bot_scopes:
                    problems.append(
                        f"{where}.commandLists[{j}] is for scope {scope!r}, "
                        f"which is not one of the bot's scopes {bot_scopes}."
                    )
                elif scope in seen:
                    problems.append(
                        f"{where}.commandLists[{j}] repeats scope {scope!r} of commandLists[{seen[scope]}]: "
                        "use one command list per scope."
                    )
                else:
                    seen[scope] = j
            titles = [c.get("title") for _, c in _items(command_list.get("commands"))]
            for title in sorted({t for t in titles if isinstance(t, str) and titles.count(t) > 1}):
                problems.append(f"{where}.commandLists[{j}] lists the command {title!r} more than once.")
    return problems


def _icon_problems(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> list[str]:
    icons = manifest.get("icons")
    if not isinstance(icons, dict):
        return []
    problems: list[str] = []
    for key, size in ICON_SIZES.items():
        name = icons.get(key)
        if not isinstance(name, str):
            continue
        if name not in files:
            problems.append(f"icons.{key} names {name!r}, which is not in the package.")
            continue
        try:
            with Image.open(io.BytesIO(files[name])) as image:
                image.load()
                image_format, image_size = image.format, image.size
                rgba = image.convert("RGBA")
        except (UnidentifiedImageError, OSError):
            problems.append(f"{name} (icons.{key}) is not a readable image; Teams needs a PNG.")
            continue
        if image_format != "PNG":
            problems.append(f"{name} (icons.{key}) is a {image_format} image; Teams needs a PNG.")
        if image_size != size:
            problems.append(
                f"{name} (icons.{key}) is {image_size[0]}x{image_size[1]} pixels; it must be {size[0]}x{size[1]}."
            )
        if key == "outline":
            problems += _outline_problems(name, rgba)
    return problems


def _outline_problems(name: str, image: Image.Image) -> list[str]:
    """Teams draws the outline icon as a mask: white where it is drawn, fully transparent elsewhere."""
    pixels = image.tobytes()
    width = image.width
    wrong: list[int] = []
    transparent = 0
    for index in range(0, len(pixels), 4):
        r, g, b, a = pixels[index : index + 4]
        if a == 0:
            transparent += 1
        elif (r, g, b) != (255, 255, 255):
            wrong.append(index // 4)
    problems = []
    if wrong:
        first = wrong[0]
        x, y = first % width, first // width
        r, g, b, a = pixels[first * 4 : first * 4 + 4]
        problems.append(
            f"{name} (icons.outline) must be white on transparent: {len(wrong)} pixel(s) are neither "
            f"white nor fully transparent, the first at ({x}, {y}) is rgba({r}, {g}, {b}, {a})."
        )
    if not transparent:
        problems.append(f"{name} (icons.outline) has no transparent pixels: it must be white on transparent.")
    return problems


def _localization_problems(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> list[str]:
    info = manifest.get("localizationInfo")
    if not isinstance(info, dict):
        return []
    named = [("localizationInfo.defaultLanguageFile", info.get("defaultLanguageFile"))]
    named += [
        (f"localizationInfo.additionalLanguages[{i}].file", language.get("file"))
        for i, language in _items(info.get("additionalLanguages"))
    ]
    problems = [
        f"{where} names {name!r}, which is not in the package."
        for where, name in named
        if isinstance(name, str) and name not in files
    ]
    for _where, name in named:
        if isinstance(name, str) and name in files:
            problems += _language_file_problems(manifest, name, files[name])
    return problems


def _language_file_problems(manifest: Mapping[str, Any], name: str, content: bytes) -> list[str]:
    """A language file against the official localization schema of the manifest's version, and
    every command it translates must exist in the manifest (Teams refuses the package otherwise)."""
    try:
        strings = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{name} is not valid JSON: {exc}."]
    if not isinstance(strings, dict):
        return [f"{name} must hold a JSON object."]
    problems = []
    validator = _validator(str(manifest.get("manifestVersion")), LOCALIZATION_SCHEMA_FILE)
    if validator is None:
        problems.append(
            f"{name}: no localization schema for manifestVersion {manifest.get('manifestVersion')!r}."
        )
    else:
        for error in sorted(validator.iter_errors(strings), key=lambda e: e.message):
            problems.append(f"{name}: {_describe(error)}")
    for key in strings:
        found = COMMAND_KEY.fullmatch(key)
        if found and not _has_command(manifest, *map(int, found.groups())):
            problems.append(f"{name}: {key} translates a command the manifest does not have.")
    return problems


COMMAND_KEY = re.compile(r"bots\[(\d+)\]\.commandLists\[(\d+)\]\.commands\[(\d+)\]\.(?:title|description)")


def _has_command(manifest: Mapping[str, Any], bot: int, command_list: int, command: int) -> bool:
    try:
        return isinstance(manifest["bots"][bot]["commandLists"][command_list]["commands"][command], dict)
    except (KeyError, IndexError, TypeError):
        return False


def _domain_problems(manifest: Mapping[str, Any]) -> list[str]:
    domains = manifest.get("validDomains")
    if not isinstance(domains, list):
        return []
    problems = []
    for i, domain in enumerate(domains):
        if isinstance(domain, str) and not BARE_HOST.fullmatch(domain):
            problems.append(f"validDomains[{i}] {domain!r} {_why_not_a_host(domain)}")
    return problems


def _why_not_a_host(domain: str) -> str:
    if "://" in domain:
        reason = "has a scheme"
    elif "/" in domain or "?" in domain or "#" in domain:
        reason = "has a path"
    elif ":" in domain:
        reason = "has a port"
    elif "*" in domain:
        reason = "has a wildcard that is not one leading '*.' before a domain of two or more labels"
    elif not domain.strip() or any(c.isspace() for c in domain):
        reason = "is empty or has spaces"
    else:
        reason = "is not a valid host name"
    return f"{reason}: a valid domain is a bare host name like bot.contoso.com or *.contoso.com."


def _developer_problems(manifest: Mapping[str, Any]) -> list[str]:
    developer = manifest.get("developer")
    if not isinstance(developer, dict):
        return []
    return [
        f"developer.{key} {developer[key]!r} must be an https:// address."
        for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl")
        if isinstance(developer.get(key), str) and not developer[key].lower().startswith("https://")
    ]


def _items(value: object) -> Iterable[tuple[int, dict[str, Any]]]:
    """The (index, object) pairs of a JSON array; anything else the schema check reports."""
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]
