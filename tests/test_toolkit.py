"""Microsoft's own tools on this repository, offline: the Agents Toolkit CLI (`atk`, pinned in toolkit/).

- `atk validate --manifest-file` (bundled schemas and rules) passes the manifest `python -m manifest
  build` writes, and refuses a broken one for the same reasons our checks give;
- `atk package` (teamsApp/zipAppPackage) renders manifest/manifest.template.json from an env file
  into the same package as the Python builder;
- the m365agents*.yml files pass the yaml schema the CLI bundles, checked by its own code, and
  every ${{VARIABLE}} an action or a file it reads uses is known by the time the action runs;
- aad.manifest.json becomes Graph application permissions with Microsoft's ids, as aadApp/update
  sends them; the zip `atk deploy` uploads holds everything the bot imports, and the bot starts
  from it.

Each command runs in a network namespace of its own when the machine allows one (`unshare -n`,
as root in CI), so "offline" is checked, not assumed. Needs node and npm; toolkit/ is installed on
first use (`npm ci --ignore-scripts`). Without node the tests skip, except under CI=true, where
they fail. `atk validate --package-file` is not used: it asks for a Microsoft 365 sign-in.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from bot.settings import Settings
from manifest import build_package, check_package, read_package, render_manifest
from manifest.settings import ManifestSettings
from tests.test_toolkit_files import PLACEHOLDER, env_file

pytestmark = pytest.mark.toolkit

ROOT = Path(__file__).resolve().parent.parent
TOOLKIT = ROOT / "toolkit"
CLI = TOOLKIT / "node_modules" / "@microsoft" / "m365agentstoolkit-cli" / "cli.js"
# A version-4 GUID, like every Entra app id: `atk package` replaces an id it does not take for a
# GUID (all zeros, say) with a random one.
APP_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
DOMAIN = "bot.contoso.com"
TIMEOUT = 300.0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    message = f"the Toolkit tests need {reason}"
    if in_ci():
        pytest.fail(message + " (CI=true: .ci/run installs them)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def node() -> str:
    """node, with toolkit/ installed from its lock file (once, whichever test worker comes first)."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        unavailable("Node.js 20 with npm (not found on PATH)")
    assert node is not None
    with open(Path(tempfile.gettempdir()) / "teams-phone-connector-toolkit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not CLI.exists():
            # --ignore-scripts: the CLI's keytar would otherwise build against libsecret; nothing
            # here needs it (no sign-in).
            result = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=TOOLKIT,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if result.returncode != 0 or not CLI.exists():
                unavailable(f"toolkit/ installed (npm ci failed: {result.stderr.strip()[-500:]})")
    return node


@cache
def offline() -> list[str]:
    """`unshare -n` where a process may have a network namespace with no network: proof of offline."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return ["unshare", "-n"] if ok else []


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*offline(), *command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def atk(node: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([node, str(CLI), *args, "--interactive", "false", "--telemetry", "false"], cwd)


def check(node: str, *args: str, env: dict[str, str] | None = None) -> Any:
    result = run([node, str(TOOLKIT / "check.js"), *args], ROOT, env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def built_package(tmp_path: Path) -> Path:
    """What `python -m manifest build` writes, unzipped into a folder; returns the folder."""
    package = tmp_path / "appPackage.zip"
    build_package(
        Settings(_env_file=None, APP_ID=APP_ID),
        ManifestSettings(_env_file=None, TEAMS_APP_DOMAIN=DOMAIN),
        package,
    )
    folder = tmp_path / "package"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    return folder


# -- Microsoft's manifest validator ----------------------------------------------------------------


def test_microsoft_validator_passes_the_package_python_builds(node: str, tmp_path: Path) -> None:
    folder = built_package(tmp_path)
    result = atk(node, "validate", "--manifest-file", "manifest.json", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All passed" in result.stdout


def test_microsoft_validator_refuses_a_broken_manifest_for_the_reasons_ours_gives(
    node: str, tmp_path: Path
) -> None:
    folder = built_package(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    french = json.loads((folder / "fr-ca.json").read_text("utf-8"))
    manifest["name"]["short"] = "Phone Connector for every tenant"  # 32 characters; at most 30
    manifest["accentColor"] = "blue"
    # The defect Microsoft's validator found in this repository: 101 characters, at most 80.
    french["description.short"] = (
        "Ajoutez des utilisateurs au Teams Phone Connector dans Teams, avec l'approbation d'un administrateur."
    )
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    (folder / "fr-ca.json").write_text(json.dumps(french, ensure_ascii=False), "utf-8")

    result = atk(node, "validate", "--manifest-file", "manifest.json", cwd=folder)

    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert "/name/short must NOT have more than 30 characters" in said
    assert '/accentColor must match pattern "^#[0-9a-fA-F]{6}$"' in said
    assert "/description.short must NOT have more than 80 characters" in said
    ours = check_package({path.name: path.read_bytes() for path in folder.iterdir()})
    assert any("name.short" in p and "at most 30" in p for p in ours), ours
    assert any("accentColor" in p for p in ours), ours
    assert any(p.startswith("fr-ca.json description.short") and "at most 80" in p for p in ours), ours


def test_the_toolkit_packages_the_template_as_the_python_builder_does(node: str, tmp_path: Path) -> None:
    """teamsApp/zipAppPackage, as `atk provision` runs it, on the same template and variables."""
    variables = env_file("dev") | {"TEAMS_APP_ID": APP_ID, "BOT_ID": APP_ID, "BOT_DOMAIN": DOMAIN}
    env = tmp_path / "package.env"
    env.write_text("".join(f"{key}={value}\n" for key, value in variables.items()), "utf-8")
    output = tmp_path / "toolkit" / "appPackage.zip"

    result = atk(
        node,
        "package",
        "--manifest-file",
        "manifest/manifest.template.json",
        "--env-file",
        str(env),
        "--output-package-file",
        str(output),
        "--output-folder",
        str(tmp_path / "toolkit"),
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    theirs = read_package(output)
    assert check_package(theirs) == []
    ours = built_package(tmp_path)
    assert json.loads(theirs["manifest.json"]) == render_manifest(
        APP_ID, ManifestSettings(_env_file=None, TEAMS_APP_DOMAIN=DOMAIN)
    )
    for name in ("color.png", "outline.png", "fr-ca.json"):
        assert theirs[name] == (ours / name).read_bytes(), name


# -- the project files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def projects(node: str) -> dict[str, Any]:
    """The two project files as the Toolkit parses and checks them (one run: the check is slow)."""
    return {
        result["file"]: result for result in check(node, "yaml", "m365agents.yml", "m365agents.local.yml")
    }


def test_the_project_files_pass_the_toolkits_own_schema_check(projects: dict[str, Any]) -> None:
    for result in projects.values():
        assert result["valid"] and result["parsed"], (
            result["file"],
            result["errors"][:5],
            result["parseError"],
        )
        assert result["version"] == result["latest"], "written for the newest schema this CLI knows"


BREAKAGES = {
    "unknown-action": (lambda y: y["provision"][0].update(uses="aadApp/make"), "/provision/0"),
    "deploy-without-app-service": (lambda y: y["deploy"][0]["with"].pop("resourceId"), "/deploy/0"),
    "misspelt-argument": (lambda y: y["provision"][3]["with"].update(resourceGroup="rg"), "/provision/3"),
    "unknown-version": (lambda y: y.update(version="v9.9"), None),
}


def test_the_toolkit_refuses_broken_project_files(
    node: str, projects: dict[str, Any], tmp_path: Path
) -> None:
    files = []
    for name, (change, _where) in BREAKAGES.items():
        broken = copy.deepcopy(projects["m365agents.yml"]["content"])
        change(broken)
        # JSON is YAML: the Toolkit's parser reads it as it reads the original.
        (tmp_path / name).mkdir()
        files.append(tmp_path / name / "m365agents.yml")
        files[-1].write_text(json.dumps(broken), "utf-8")

    results = check(node, "yaml", *map(str, files))

    for result, (name, (_change, where)) in zip(results, BREAKAGES.items(), strict=True):
        assert not result["valid"] and not result["parsed"], name
        if where is None:
            assert not result["supported"] and "v9.9" in result["parseError"], result
        else:
            assert any(e["path"].startswith(where) for e in result["errors"]), (name, result["errors"][:5])


# Variables a person gives before provisioning, which the env files leave empty on purpose.
SUPPLIED = {
    "dev": {"AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP_NAME"},  # empty: the Toolkit asks
    "local": {"BOT_ENDPOINT", "BOT_DOMAIN"},  # the dev tunnel writes them
}


def referenced_files(action: dict[str, Any]) -> list[Path]:
    """The files an action reads and fills ${{VARIABLES}} into."""
    arguments = action.get("with", {})
    paths = [arguments[key] for key in ("manifestPath",) if key in arguments]
    paths += [template["parameters"] for template in arguments.get("templates", [])]
    files = [ROOT / path for path in paths]
    if action["uses"] == "teamsApp/zipAppPackage":
        files.append(ROOT / "manifest" / "fr-ca.json")  # its localizationInfo file, filled too
    return files


def produced(action: dict[str, Any]) -> set[str]:
    names = set(action.get("writeToEnvironmentFile", {}).values()) | set(action.get("env", {}))
    for template in action.get("with", {}).get("templates", []):
        names |= set(BicepParser().parse(file_path=ROOT / template["path"])["outputs"])
    return names


@pytest.mark.parametrize(
    ("file", "environment"), [("m365agents.yml", "dev"), ("m365agents.local.yml", "local")]
)
def test_every_variable_is_known_when_its_action_runs(node: str, file: str, environment: str) -> None:
    """The Toolkit stops at the first action whose ${{VARIABLE}} is empty: each one must be set in
    env/.env.<environment>, given by the person (SUPPLIED), or written by an earlier action."""
    [project] = check(node, "yaml", file)
    known = {key for key, value in env_file(environment).items() if value} | SUPPLIED[environment]
    known.add("TEAMSFX_ENV")
    for stage in ("provision", "deploy", "publish"):
        for number, action in enumerate(project["content"].get(stage) or []):
            files = referenced_files(action)
            for path in files:
                assert path.is_file(), f"{file} {stage}[{number}] {action['uses']}: no {path}"
            text = json.dumps([action.get("with"), action.get("env")])
            text += "".join(path.read_text("utf-8") for path in files)
            missing = set(PLACEHOLDER.findall(text)) - known
            assert not missing, (
                f"{file} {stage}[{number}] {action['uses']} uses {sorted(missing)} before they exist"
            )
            known |= produced(action)


GRAPH = "00000003-0000-0000-c000-000000000000"
USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"
ROLE_MANAGEMENT_READ_DIRECTORY = "483bed4a-2ad3-4361-a73b-c83ccdbdc53c"


def test_aad_update_sends_graph_application_permissions_by_microsofts_ids(node: str, tmp_path: Path) -> None:
    variables = env_file("dev") | {
        "BOT_OBJECT_ID": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
        "BOT_ID": APP_ID,
        "TEAMSFX_ENV": "dev",
    }
    result = check(node, "aad", "aad.manifest.json", str(tmp_path / "aad.json"), env=variables)
    application = result["application"]
    assert (application["appId"], application["signInAudience"]) == (APP_ID, "AzureADMultipleOrgs")
    [graph] = application["requiredResourceAccess"]
    assert graph["resourceAppId"] == GRAPH
    assert sorted((a["id"], a["type"]) for a in graph["resourceAccess"]) == sorted(
        [(USER_READ_ALL, "Role"), (ROLE_MANAGEMENT_READ_DIRECTORY, "Role")]
    )
    # Its only remarks are about single sign-on, which this bot does not use (no user sign-in).
    sso = {
        "oauth2Permissions is missing",
        "preAuthorizedApplications is missing",
        "optionalClaims is missing",
    }
    assert set(result["warnings"][1:]) <= sso, result["warnings"]


# -- the deployment ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def deployed(node: str, tmp_path: Path) -> Iterator[Path]:
    """The zip `atk deploy` would upload, unzipped: the App Service's site folder."""
    result = check(node, "deploy-zip", ".", ".webappignore", str(tmp_path / "deployment.zip"))
    assert result["warnings"] == []
    site = tmp_path / "site"
    with zipfile.ZipFile(tmp_path / "deployment.zip") as archive:
        archive.extractall(site)
    yield site


def test_the_deployment_holds_the_bot_and_nothing_else(deployed: Path) -> None:
    top = {path.name for path in deployed.iterdir()}
    assert top == {"app.py", "requirements.txt", "bot", "cards", "dialogs", "i18n", "migrations", "services"}
    for folder in top - {"app.py", "requirements.txt"}:
        here = {p.relative_to(ROOT) for p in (ROOT / folder).rglob("*") if p.is_file()}
        here = {p for p in here if "__pycache__" not in p.parts and p.suffix != ".pyc"}
        there = {p.relative_to(deployed) for p in (deployed / folder).rglob("*") if p.is_file()}
        assert here == there, folder


def test_the_bot_starts_from_the_deployment(deployed: Path, tmp_path: Path) -> None:
    """What App Service runs (`python app.py` in the site folder), minus Azure: nothing missing."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("Microsoft", "DATABASE_", "PROVISIONING_"))
    }
    env |= {"HOST": "127.0.0.1", "PORT": str(port), "DATA_DIR": str(tmp_path / "data"), "LOG_FORMAT": "json"}
    log = (tmp_path / "bot.log").open("w")
    bot = subprocess.Popen([sys.executable, "app.py"], cwd=deployed, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert bot.poll() is None, (tmp_path / "bot.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"the bot did not answer /healthz: {(tmp_path / 'bot.log').read_text()[-3000:]}")
    finally:
        bot.terminate()
        bot.wait(timeout=30)
        log.close()
