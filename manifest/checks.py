"""Offline checks of a Teams app package: the official manifest schema, then the rules Teams adds.

Each check returns problems as one-line sentences; an empty list means the package is fine.
The package rules below need only the standard library, so `python -m manifest build` works
from a runtime-only install (requirements.txt). Two checks need the dev requirements and run
whenever they are installed (the tests and CI always have them): the official JSON schema
(`manifest.schema`, jsonschema) and the outline icon's pixels (Pillow). `unavailable_checks()`
names what this install cannot check, for the command to say so.
"""

from __future__ import annotations

import importlib
import json
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

MANIFEST_FILE = "manifest.json"
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILE = "MicrosoftTeams.schema.json"
LOCALIZATION_SCHEMA_FILE = "MicrosoftTeams.Localization.schema.json"

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

# The optional checks: what each needs, and how a runtime-only install can still get them run.
_OPTIONAL = {
    "the official manifest and localization JSON schemas": ("manifest.schema", "jsonschema"),
    "the outline icon's pixels, white on transparent": ("PIL.Image", "Pillow"),
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OTHER_FORMATS = {b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}


def check_package(files: Mapping[str, bytes]) -> list[str]:
    """Every problem of a package given as {file name at the zip root: content}.

    Runs the schema and pixel checks when their libraries are installed (see `unavailable_checks`).
    """
    if MANIFEST_FILE not in files:
        return [f"{MANIFEST_FILE} is missing from the package root."]
    try:
        manifest = json.loads(files[MANIFEST_FILE].decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{MANIFEST_FILE} is not valid JSON: {exc}."]
    if not isinstance(manifest, dict):
        return [f"{MANIFEST_FILE} must hold a JSON object."]
    schema = _optional("manifest.schema")
    problems = schema.schema_problems(manifest) if schema else []
    return problems + package_problems(manifest, files)


def schema_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What the official schema of the manifest's `manifestVersion` says is wrong (needs jsonschema)."""
    from manifest.schema import schema_problems as problems

    return problems(manifest)


def unavailable_checks() -> list[str]:
    """The checks this install cannot run, each with the package it needs, e.g. "... (needs Pillow)"."""
    return [
        f"{what} (needs {package})" for what, (module, package) in _OPTIONAL.items() if not _optional(module)
    ]


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


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only a missing optional library means "not installed"; any other import error is a bug.
        if exc.name and exc.name.split(".")[0] in ("jsonschema", "referencing", "rpds", "PIL"):
            return None
        raise


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
        image_format, image_size = _image_header(files[name])
        if image_format is None:
            problems.append(f"{name} (icons.{key}) is not a readable image; Teams needs a PNG.")
            continue
        if image_format != "PNG":
            problems.append(f"{name} (icons.{key}) is a {image_format} image; Teams needs a PNG.")
            continue
        if image_size != size:
            problems.append(
                f"{name} (icons.{key}) is {image_size[0]}x{image_size[1]} pixels; it must be {size[0]}x{size[1]}."
            )
        problems += _pixel_problems(key, name, files[name])
    return problems


def _image_header(content: bytes) -> tuple[str | None, tuple[int, int]]:
    """The image format from the file's first bytes and, for a PNG, its size (from the IHDR chunk)."""
    if content.startswith(_PNG_SIGNATURE) and content[12:16] == b"IHDR" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return "PNG", (width, height)
    for magic, name in _OTHER_FORMATS.items():
        if content.startswith(magic):
            return name, (0, 0)
    return None, (0, 0)


def _pixel_problems(key: str, name: str, content: bytes) -> list[str]:
    """With Pillow: the PNG decodes, and an outline icon is white on transparent. Without: nothing."""
    pil = _optional("PIL.Image")
    if pil is None:
        return []
    import io

    try:
        with pil.open(io.BytesIO(content)) as image:
            image.load()
            rgba = image.convert("RGBA")
    except (pil.UnidentifiedImageError, OSError):
        return [f"{name} (icons.{key}) is not a readable image; Teams needs a PNG."]
    return _outline_problems(name, rgba) if key == "outline" else []


def _outline_problems(name: str, image: Any) -> list[str]:
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
    schema = _optional("manifest.schema")
    problems = schema.language_file_problems(name, strings, manifest.get("manifestVersion")) if schema else []
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
