"""Builds the Teams app package: fills the manifest template from settings, checks it, writes the zip."""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.settings import ROOT, Settings
from manifest.checks import GUID, MANIFEST_FILE, check_package
from manifest.settings import ManifestSettings

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE = PACKAGE_DIR / "manifest.template.json"
DEFAULT_OUTPUT = ROOT / "appPackage.zip"

# A whole JSON string "${{NAME}}" is replaced by the value of NAME; text is never spliced into JSON.
_PLACEHOLDER = re.compile(r"\$\{\{(\w+)\}\}")
# Fixed zip timestamps: the same inputs give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ConfigurationError(Exception):
    """A setting the package cannot be built without; the message is one sentence for the admin."""


class PackageInvalid(Exception):
    """The filled manifest or its icons break the schema or Teams' package rules."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the app package")
        self.problems = problems


def require_app_id(settings: Settings) -> str:
    app_id = settings.APP_ID.strip()
    if not app_id:
        raise ConfigurationError(
            "MicrosoftAppId is not set: set it to the bot's Microsoft App ID (the GUID of its "
            "Azure Bot registration) in the environment or in .env, then build again."
        )
    if not GUID.fullmatch(app_id):
        raise ConfigurationError(
            f"MicrosoftAppId {app_id!r} is not a GUID: set it to the bot's Microsoft App ID, "
            "which looks like 00000000-0000-0000-0000-000000000000."
        )
    return app_id


def template_values(app_id: str, publisher: ManifestSettings) -> dict[str, str | None]:
    """The template's placeholders by name; None removes a list item (an unset domain).

    The names are the Microsoft 365 Agents Toolkit's (m365agents.yml fills the same template from
    env/.env.*): TEAMS_APP_ID and BOT_ID are both the bot's app id here (one bot per app, and
    the Toolkit files create the Teams app with the bot's id too), BOT_DOMAIN is the host the bot
    is served from (the setting TEAMS_APP_DOMAIN).
    """
    return {
        "TEAMS_APP_ID": app_id,
        "BOT_ID": app_id,
        "TEAMS_APP_VERSION": publisher.version.strip(),
        "TEAMS_APP_DEVELOPER_NAME": publisher.developer_name.strip(),
        "TEAMS_APP_WEBSITE_URL": publisher.website_url.strip(),
        "TEAMS_APP_PRIVACY_URL": publisher.privacy_url.strip(),
        "TEAMS_APP_TERMS_URL": publisher.terms_of_use_url.strip(),
        "BOT_DOMAIN": publisher.domain.strip() or None,
    }


def fill_template(template: Any, values: Mapping[str, str | None]) -> Any:
    """A copy of the template with each "${{NAME}}" string replaced by values[NAME]."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [filled for filled in map(fill, node) if filled is not None]
        if isinstance(node, str) and (match := _PLACEHOLDER.fullmatch(node)):
            name = match.group(1)
            if name not in values:
                raise ValueError(f"the manifest template has an unknown placeholder {node}")
            return values[name]
        return node

    return fill(template)


def render_manifest(app_id: str, publisher: ManifestSettings, template: Path = TEMPLATE) -> dict[str, Any]:
    return fill_template(json.loads(template.read_text("utf-8")), template_values(app_id, publisher))


def package_files(manifest: Mapping[str, Any], asset_dir: Path = PACKAGE_DIR) -> dict[str, bytes]:
    """manifest.json and the icon and language files it names, as they go into the zip's root.

    A named icon missing from asset_dir is left out, for the checks to report.
    """
    files = {MANIFEST_FILE: (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")}
    icons = manifest.get("icons")
    named = [str(name) for name in icons.values()] if isinstance(icons, dict) else []
    # The language files (e.g. fr-ca.json): Teams shows the app's name, descriptions and command
    # list in the user's language from them.
    info = manifest.get("localizationInfo")
    if isinstance(info, dict):
        languages = info.get("additionalLanguages")
        for language in languages if isinstance(languages, list) else []:
            if isinstance(language, dict) and isinstance(language.get("file"), str):
                named.append(language["file"])
    for name in named:
        path = asset_dir / name
        if path.is_file():
            files[name] = path.read_bytes()
    return files


def write_package(files: Mapping[str, bytes], output: Path) -> None:
    """Writes the zip next to output and renames it into place, so a failure leaves no half package."""
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".appPackage-", suffix=".zip", dir=output.parent)
    try:
        with os.fdopen(handle, "wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, content)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the package is meant to be shared
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_package(
    settings: Settings,
    publisher: ManifestSettings,
    output: Path = DEFAULT_OUTPUT,
    *,
    template: Path = TEMPLATE,
    asset_dir: Path = PACKAGE_DIR,
) -> dict[str, Any]:
    """Builds, checks and writes the package; returns the manifest written.

    Raises ConfigurationError for a missing or malformed app id and PackageInvalid (nothing written)
    for anything the checks find.
    """
    manifest = render_manifest(require_app_id(settings), publisher, template)
    files = package_files(manifest, asset_dir)
    problems = check_package(files)
    if problems:
        raise PackageInvalid(problems)
    write_package(files, output)
    return manifest


def read_package(path: Path) -> dict[str, bytes]:
    """The files at the root of an existing package; ConfigurationError if it is not a usable zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            nested = [name for name in names if "/" in name or "\\" in name]
            if nested:
                raise ConfigurationError(
                    f"{path} has files in folders ({', '.join(nested)}): Teams needs manifest.json "
                    "and the icons at the root of the zip."
                )
            return {name: archive.read(name) for name in names}
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist.") from None
    except zipfile.BadZipFile:
        raise ConfigurationError(f"{path} is not a zip file.") from None
