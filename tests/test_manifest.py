"""The Teams app package: a valid build, and broken packages refused with the problem named. No network."""

from __future__ import annotations

import io
import json
import socket
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.settings import Settings
from dialogs.commands import Command, parse_command
from manifest import (
    ConfigurationError,
    ManifestSettings,
    PackageInvalid,
    build_package,
    check_package,
    fill_template,
    package_files,
    render_manifest,
    schema_problems,
)
from manifest.__main__ import main

APP_ID = "00000000-0000-0000-0000-000000000001"
OTHER_ID = "11111111-2222-4333-8444-555555555555"
PUBLISHER_VARIABLES = (
    "TEAMS_APP_DEVELOPER_NAME",
    "TEAMS_APP_WEBSITE_URL",
    "TEAMS_APP_PRIVACY_URL",
    "TEAMS_APP_TERMS_URL",
    "TEAMS_APP_DOMAIN",
    "TEAMS_APP_VERSION",
)


@pytest.fixture(autouse=True)
def offline_and_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the manifest checks must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for name in PUBLISHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def publisher(**values: str) -> ManifestSettings:
    return ManifestSettings(_env_file=None, **values)


def bot_settings(app_id: str = APP_ID) -> Settings:
    return Settings(_env_file=None, APP_ID=app_id)


def good_files() -> dict[str, bytes]:
    return package_files(render_manifest(APP_ID, publisher(TEAMS_APP_DOMAIN="bot.contoso.com")))


def icon(size: tuple[int, int], color: tuple[int, int, int, int], image_format: str = "PNG") -> bytes:
    """An image of one colour; JPEG has no alpha, so it gets the colour without it."""
    image = Image.new("RGBA", size, color)
    if image_format != "PNG":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def white_glyph_with(pixel: tuple[int, int, int, int]) -> bytes:
    """A valid outline icon (white square on transparent) with one pixel changed."""
    image = Image.new("RGBA", (32, 32), (255, 255, 255, 0))
    image.paste((255, 255, 255, 255), (8, 8, 24, 24))
    image.putpixel((10, 12), pixel)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- a valid build ---------------------------------------------------------------------------------


def test_build_writes_manifest_and_icons_at_the_zip_root(tmp_path: Path) -> None:
    output = tmp_path / "appPackage.zip"
    build_package(bot_settings(), publisher(TEAMS_APP_DOMAIN="bot.contoso.com"), output)

    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == ["color.png", "fr-ca.json", "manifest.json", "outline.png"]
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(files["manifest.json"])
    assert schema_problems(manifest) == []
    assert check_package(files) == []
    assert manifest["id"] == APP_ID
    assert manifest["validDomains"] == ["bot.contoso.com"]
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert sorted(bot["scopes"]) == ["personal", "team"]
    assert bot["supportsFiles"] is True, "bulk add takes a CSV file sent in the personal chat"
    assert sorted(scope for commands in bot["commandLists"] for scope in commands["scopes"]) == [
        "personal",
        "team",
    ]
    for commands in bot["commandLists"]:
        titles = [command["title"] for command in commands["commands"]]
        assert {"add user", "pending", "my requests", "help", "cancel"} <= set(titles)
        assert all(parse_command(title) is not Command.unknown for title in titles), (
            "the bot understands them"
        )
    with (
        Image.open(io.BytesIO(files["color.png"])) as color,
        Image.open(io.BytesIO(files["outline.png"])) as out,
    ):
        assert (color.size, out.size) == ((192, 192), (32, 32))


def test_publisher_settings_fill_the_developer_block_and_version() -> None:
    manifest = render_manifest(
        APP_ID,
        publisher(
            TEAMS_APP_DEVELOPER_NAME='Northwind "Voice"',
            TEAMS_APP_WEBSITE_URL="https://northwind.example/",
            TEAMS_APP_PRIVACY_URL="https://northwind.example/privacy",
            TEAMS_APP_TERMS_URL="https://northwind.example/terms",
            TEAMS_APP_VERSION="2.3.4",
        ),
    )
    assert manifest["developer"] == {
        "name": 'Northwind "Voice"',
        "websiteUrl": "https://northwind.example/",
        "privacyUrl": "https://northwind.example/privacy",
        "termsOfUseUrl": "https://northwind.example/terms",
    }
    assert manifest["version"] == "2.3.4"
    assert manifest["validDomains"] == [], "no domain set: no invented one"
    assert check_package(package_files(manifest)) == []
    assert "${{" not in json.dumps(manifest)


def test_placeholders_are_whole_values_and_unknown_ones_are_refused() -> None:
    assert fill_template({"a": ["${{X}}", "${{Y}}"], "b": "x ${{X}}"}, {"X": "1", "Y": None}) == {
        "a": ["1"],
        "b": "x ${{X}}",
    }
    with pytest.raises(ValueError, match="unknown placeholder"):
        fill_template({"a": "${{NOPE}}"}, {})


# -- the command ----------------------------------------------------------------------------------


def test_command_builds_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    output = tmp_path / "out" / "package.zip"
    assert main(["build", "--output", str(output)]) == 0
    assert main(["check", str(output)]) == 0


@pytest.mark.parametrize(
    ("app_id", "sentence"),
    [
        ("", "MicrosoftAppId is not set"),
        ("not-a-guid", "MicrosoftAppId 'not-a-guid' is not a GUID"),
    ],
)
def test_command_refuses_a_missing_or_malformed_app_id_in_one_sentence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    app_id: str,
    sentence: str,
) -> None:
    monkeypatch.setenv("MicrosoftAppId", app_id)
    output = tmp_path / "appPackage.zip"
    assert main(["build", "--output", str(output)]) != 0
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith(sentence)
    assert not output.exists()


def test_build_with_problems_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "appPackage.zip"
    with pytest.raises(PackageInvalid) as refused:
        build_package(bot_settings(), publisher(TEAMS_APP_DOMAIN="https://bot.contoso.com"), output)
    assert [p for p in refused.value.problems if "validDomains[0]" in p]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigurationError):
        build_package(bot_settings(""), publisher(), output)


def test_check_refuses_a_zip_with_files_in_a_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    package = tmp_path / "nested.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for name, content in good_files().items():
            archive.writestr(f"appPackage/{name}", content)
    assert main(["check", str(package)]) == 2
    assert "at the root of the zip" in caplog.text


# -- broken packages --------------------------------------------------------------------------------

Change = Callable[[dict[str, Any], dict[str, bytes]], None]


def bot(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["bots"][0]


BROKEN: dict[str, tuple[Change, str]] = {
    "missing required field": (
        lambda m, f: m.pop("developer"),
        "manifest.json: 'developer' is a required property",
    ),
    "missing short description": (
        lambda m, f: m["description"].pop("short"),
        "manifest.json description: 'short' is a required property",
    ),
    "bad id": (
        lambda m, f: m.update(id="not-a-guid"),
        "id 'not-a-guid' is not a GUID",
    ),
    "bad id, as the schema sees it": (
        lambda m, f: m.update(id="not-a-guid"),
        "manifest.json id: 'not-a-guid' does not match",
    ),
    "botId is not the app id": (
        lambda m, f: bot(m).update(botId=OTHER_ID),
        f"bots[0].botId {OTHER_ID} differs from id {APP_ID}",
    ),
    "version is not semver": (
        lambda m, f: m.update(version="1.0"),
        "version '1.0' is not a semantic version",
    ),
    "unsupported manifestVersion": (
        lambda m, f: m.update(manifestVersion="1.99"),
        "manifestVersion '1.99' has no schema",
    ),
    "$schema of another version": (
        lambda m, f: m.update({"$schema": m["$schema"].replace("v1.22", "v1.21")}),
        "does not name the schema of manifestVersion 1.22",
    ),
    "name too long": (
        lambda m, f: m["name"].update(short="Phone Connector for every tenant"),
        "manifest.json name.short: 'Phone Connector for every tenant' has 32 characters; at most 30",
    ),
    "color icon of the wrong size": (
        lambda m, f: f.update({"color.png": icon((100, 100), (15, 108, 189, 255))}),
        "color.png (icons.color) is 100x100 pixels; it must be 192x192",
    ),
    "outline icon of the wrong size": (
        lambda m, f: f.update({"outline.png": icon((64, 64), (255, 255, 255, 0))}),
        "outline.png (icons.outline) is 64x64 pixels; it must be 32x32",
    ),
    "color icon that is not a PNG": (
        lambda m, f: f.update({"color.png": icon((192, 192), (15, 108, 189, 255), "JPEG")}),
        "color.png (icons.color) is a JPEG image; Teams needs a PNG",
    ),
    "icon that is not an image": (
        lambda m, f: f.update({"outline.png": b"not an image"}),
        "outline.png (icons.outline) is not a readable image",
    ),
    "non-transparent outline icon": (
        lambda m, f: f.update({"outline.png": icon((32, 32), (15, 108, 189, 255))}),
        "outline.png (icons.outline) must be white on transparent: 1024 pixel(s)",
    ),
    "opaque white outline icon": (
        lambda m, f: f.update({"outline.png": icon((32, 32), (255, 255, 255, 255))}),
        "outline.png (icons.outline) has no transparent pixels",
    ),
    "one grey pixel in the outline icon": (
        lambda m, f: f.update({"outline.png": white_glyph_with((128, 128, 128, 255))}),
        "1 pixel(s) are neither white nor fully transparent, the first at (10, 12) is rgba(128, 128, 128, 255)",
    ),
    "PNG whose header is fine and the rest is cut off": (
        lambda m, f: f.update({"outline.png": f["outline.png"][:40]}),
        "outline.png (icons.outline) is not a readable image",
    ),
    "icon file not in the package": (
        lambda m, f: m["icons"].update(color="colour.png"),
        "icons.color names 'colour.png', which is not in the package",
    ),
    "command list with an unknown scope": (
        lambda m, f: bot(m)["commandLists"][1].update(scopes=["channel"]),
        "manifest.json bots[0].commandLists[1].scopes[0]: 'channel' is not one of",
    ),
    "command list for a scope the bot does not have": (
        lambda m, f: bot(m)["commandLists"][1].update(scopes=["groupChat"]),
        "bots[0].commandLists[1] is for scope 'groupChat', which is not one of the bot's scopes",
    ),
    "two command lists for one scope": (
        lambda m, f: bot(m)["commandLists"][1].update(scopes=["personal"]),
        "bots[0].commandLists[1] repeats scope 'personal' of commandLists[0]",
    ),
    "too many commands": (
        lambda m, f: bot(m)["commandLists"][0]["commands"].extend(
            {"title": f"command {i}", "description": "More."} for i in range(5)
        ),
        "manifest.json bots[0].commandLists[0].commands: has 13 items; at most 10 allowed",
    ),
    "validDomain with a scheme": (
        lambda m, f: m.update(validDomains=["https://bot.contoso.com"]),
        "validDomains[0] 'https://bot.contoso.com' has a scheme",
    ),
    "validDomain with a path": (
        lambda m, f: m.update(validDomains=["bot.contoso.com/api/messages"]),
        "validDomains[0] 'bot.contoso.com/api/messages' has a path",
    ),
    "validDomain with a port": (
        lambda m, f: m.update(validDomains=["bot.contoso.com", "bot.contoso.com:3978"]),
        "validDomains[1] 'bot.contoso.com:3978' has a port",
    ),
    "validDomain wildcard over a top-level domain": (
        lambda m, f: m.update(validDomains=["*.com"]),
        "validDomains[0] '*.com' has a wildcard",
    ),
    "developer URL over http": (
        lambda m, f: m["developer"].update(privacyUrl="http://www.example.com/privacy"),
        "developer.privacyUrl 'http://www.example.com/privacy' must be an https:// address",
    ),
}


def test_the_unbroken_package_has_no_problems() -> None:
    assert check_package(good_files()) == []


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_package_is_refused_with_the_problem_named(case: str) -> None:
    change, expected = BROKEN[case]
    files = good_files()
    manifest = json.loads(files["manifest.json"])
    change(manifest, files)
    files["manifest.json"] = json.dumps(manifest).encode("utf-8")

    problems = check_package(files)

    assert any(expected in problem for problem in problems), problems
    assert all("\n" not in problem for problem in problems), "one line per problem"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "manifest.json is missing from the package root"),
        ({"manifest.json": b"{"}, "manifest.json is not valid JSON"),
        ({"manifest.json": b"[]"}, "manifest.json must hold a JSON object"),
    ],
)
def test_an_unreadable_manifest_is_refused(files: dict[str, bytes], expected: str) -> None:
    [problem] = check_package(files)
    assert problem.startswith(expected)


def test_the_app_speaks_french_in_teams_too(tmp_path: Path) -> None:
    """The French (Canada) language file: Teams shows the name, descriptions and every command of
    the app in French to a French client; checked against the official localization schema."""
    output = tmp_path / "appPackage.zip"
    manifest = build_package(bot_settings(), publisher(TEAMS_APP_DOMAIN="bot.contoso.com"), output)
    assert manifest["localizationInfo"]["additionalLanguages"] == [
        {"languageTag": "fr-ca", "file": "fr-ca.json"}
    ]
    with zipfile.ZipFile(output) as archive:
        french = json.loads(archive.read("fr-ca.json"))
    titles = [
        french[f"bots[0].commandLists[{i}].commands[{j}].title"]
        for i, commands in enumerate(manifest["bots"][0]["commandLists"])
        for j, _ in enumerate(commands["commands"])
    ]
    assert "ajouter un utilisateur" in titles and "aide" in titles and len(titles) == 14
    assert "utilisateurs téléphoniques" in titles
    from dialogs.commands import Command, parse_command

    assert all(parse_command(title) is not Command.unknown for title in titles), "each French command works"


def test_a_broken_language_file_is_refused(tmp_path: Path) -> None:
    files = package_files(render_manifest(APP_ID, publisher(TEAMS_APP_DOMAIN="bot.contoso.com")))
    french = json.loads(files["fr-ca.json"])
    french["name.shrot"] = "Phone Connector"  # a key the localization schema does not have
    french["bots[0].commandLists[0].commands[9].title"] = "fantôme"
    problems = check_package({**files, "fr-ca.json": json.dumps(french).encode()})
    assert any("fr-ca.json" in p and "name.shrot" in p for p in problems), problems
    assert any("commands[9].title translates a command the manifest does not have" in p for p in problems)


def test_the_schema_applies_the_limits_written_beside_a_reference() -> None:
    """The localization schema writes `"maxLength": 80` next to a `$ref`: Microsoft's validator
    applies it (and refused this French text), so ours does too."""
    files = good_files()
    french = json.loads(files["fr-ca.json"])
    french["description.short"] = "Ajoutez des utilisateurs au Teams Phone Connector dans Teams, " + "x" * 40
    problems = check_package({**files, "fr-ca.json": json.dumps(french).encode()})
    assert problems == [
        "fr-ca.json description.short: '"
        + french["description.short"]
        + "' has 102 characters; at most 80 allowed"
    ]
