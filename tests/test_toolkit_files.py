"""The Microsoft 365 Agents Toolkit files agree with each other and with the bot, without node.

env/ holds no secrets and names every variable the app package needs; infra/ parses (pycep, the
only Bicep parser that runs offline) and its parameters, outputs and App Service settings match
what m365agents.yml passes, what the Toolkit reads back and what the bot understands; aad.manifest.json
declares exactly the Graph permissions the bot's Graph client asks customers to consent to;
.vscode/ refers only to tasks and configurations that exist. What needs the Toolkit CLI itself
(its schemas, its validator, its packager) is in test_toolkit.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser
from sqlalchemy.engine import make_url

from bot.settings import Settings
from manifest.build import TEMPLATE, template_values
from manifest.settings import ManifestSettings

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "local")
PLACEHOLDER = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Written by `atk provision` (and the dev tunnel): empty in a fresh clone.
WRITTEN_BY_PROVISION = {"TEAMS_APP_ID", "BOT_ID", "BOT_DOMAIN"}
# App Service's own settings, which the bot does not read.
PLATFORM_SETTINGS = {"SCM_DO_BUILD_DURING_DEPLOYMENT", "WEBSITES_CONTAINER_START_TIME_LIMIT"}


def env_file(name: str) -> dict[str, str]:
    """env/.env.<name> as the Toolkit reads it: KEY=VALUE lines, # comments on lines of their own."""
    values: dict[str, str] = {}
    for number, line in enumerate((ROOT / "env" / f".env.{name}").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f".env.{name} line {number}: {line!r}"
        assert "#" not in value, f".env.{name} line {number}: a comment after a value becomes the value"
        values[key] = value
    return values


@pytest.fixture(scope="module")
def bicep() -> dict[str, dict[str, Any]]:
    parser = BicepParser()
    return {
        name: parser.parse(file_path=ROOT / "infra" / name)
        for name in ("azure.bicep", "botRegistration/azurebot.bicep")
    }


# -- env/ ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_files_hold_no_secrets_and_git_ignores_the_ones_that_do(environment: str) -> None:
    values = env_file(environment)
    assert values["TEAMSFX_ENV"] == environment
    assert not [key for key in values if key.startswith("SECRET_")], "secrets go in env/.env.*.user"
    suspicious = [k for k, v in values.items() if v and re.search(r"PASSWORD|SECRET|TOKEN|KEY", k)]
    assert suspicious == []
    ignored = (ROOT / ".gitignore").read_text("utf-8").splitlines()
    for pattern in ("env/.env.*.user", ".localConfigs", "build/", "toolkit/node_modules/"):
        assert pattern in ignored


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_fills_the_app_package_as_the_python_builder_does(environment: str) -> None:
    """The template's placeholders are the Toolkit's variable names: each environment has them all,
    and its publisher values are the builder's defaults, so both paths build the same package."""
    placeholders = set(PLACEHOLDER.findall(TEMPLATE.read_text("utf-8")))
    publisher = ManifestSettings(_env_file=None)
    assert placeholders == set(template_values("id", publisher)), "one set of names for both paths"
    values = env_file(environment)
    assert placeholders <= set(values)
    for name in placeholders - WRITTEN_BY_PROVISION:
        assert values[name] == template_values("id", publisher)[name], name


# -- infra/ ----------------------------------------------------------------------------------------


def required_parameters(document: dict[str, Any]) -> set[str]:
    return {name for name, p in document["parameters"].items() if "default" not in p}


def allowed(document: dict[str, Any], parameter: str) -> list[str]:
    for decorator in document["parameters"][parameter].get("decorators", []):
        if decorator["type"] == "allowed":
            return decorator["argument"]
    raise AssertionError(f"{parameter} has no @allowed list")


def test_the_parameters_file_passes_exactly_what_the_template_takes(bicep: dict[str, Any]) -> None:
    template = bicep["azure.bicep"]
    parameters = json.loads((ROOT / "infra" / "azure.parameters.json").read_text("utf-8"))["parameters"]
    assert required_parameters(template) <= set(parameters)
    assert set(parameters) <= set(template["parameters"])
    # The Toolkit refuses an empty ${{VAR}} in the parameters file: each must have a value in
    # env/.env.dev, or be written by an action before arm/deploy (m365agents.yml), or be a secret.
    dev = env_file("dev")
    for name, parameter in parameters.items():
        for variable in PLACEHOLDER.findall(json.dumps(parameter)):
            assert (
                dev.get(variable) or variable in {"BOT_ID", "BOT_TENANT_ID"} or variable.startswith("SECRET_")
            ), f"{name}: ${{{{{variable}}}}} would be empty at arm/deploy"
    assert dev["APP_SERVICE_SKU"] in allowed(template, "webAppSku")
    assert dev["BOT_DATABASE"] in allowed(template, "database")
    assert set(allowed(template, "database")) == {"postgresql", "sqlite"}


def test_the_module_gets_every_parameter_it_needs(bicep: dict[str, Any]) -> None:
    module = bicep["azure.bicep"]["modules"]["azureBotRegistration"]
    assert module["detail"]["path"] == "./botRegistration/azurebot.bicep"
    given = set(module["config"]["params"])
    registration = bicep["botRegistration/azurebot.bicep"]
    assert required_parameters(registration) <= given <= set(registration["parameters"])
    bot = registration["resources"]["botService"]["config"]["properties"]
    assert bot["msaAppType"] == "SingleTenant", "Azure creates no new multi-tenant bots"
    assert bot["endpoint"].endswith("/api/messages")
    channel = registration["resources"]["botServiceMsTeamsChannel"]["config"]["properties"]
    assert channel["channelName"] == "MsTeamsChannel"


def test_outputs_are_what_the_toolkit_reads_back(bicep: dict[str, Any]) -> None:
    outputs = set(bicep["azure.bicep"]["outputs"])
    assert {"BOT_AZURE_APP_SERVICE_RESOURCE_ID", "BOT_DOMAIN", "BOT_ENDPOINT"} <= outputs
    assert "BOT_AZURE_APP_SERVICE_RESOURCE_ID" in (ROOT / "m365agents.yml").read_text("utf-8")


def test_the_app_service_runs_python_3_11_behind_https(bicep: dict[str, Any]) -> None:
    site = bicep["azure.bicep"]["resources"]["webApp"]["config"]["properties"]
    assert site["httpsOnly"] is True
    config = site["siteConfig"]
    assert (config["linuxFxVersion"], config["appCommandLine"]) == ("PYTHON|3.11", "python app.py")
    assert config["alwaysOn"] is True, "the outbox sender and reminders run in the process"
    assert config["healthCheckPath"] == "/healthz"


def app_settings() -> dict[str, str]:
    """Every App Service setting in azure.bicep: name -> its value as written (a literal or an expression)."""
    text = (ROOT / "infra" / "azure.bicep").read_text("utf-8")
    return dict(re.findall(r"name: '(\w+)'\s*\n\s*value: (.+)", text))


def test_every_app_setting_is_one_the_bot_reads_and_the_bot_accepts_them() -> None:
    settings = app_settings()
    known = {field.alias for field in Settings.model_fields.values()}
    assert set(settings) - PLATFORM_SETTINGS <= known
    literal = {name: value.strip("'") for name, value in settings.items() if value.startswith("'")}
    values = {
        "MicrosoftAppId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "MicrosoftAppPassword": "not-a-real-secret",
        "MicrosoftAppTenantId": "6f1c2b7e-8d0a-4c3e-9b5f-1a2d3c4e5f60",
    }
    sqlite = Settings(_env_file=None, **(literal | values))
    assert (sqlite.host, sqlite.port, sqlite.APP_TYPE) == ("0.0.0.0", 8000, "SingleTenant")
    assert sqlite.authenticated, "listening on 0.0.0.0 is only allowed with an app id"
    assert str(sqlite.data_dir) == "/home/data"


def test_the_postgresql_url_is_one_the_bot_opens_with_tls() -> None:
    expression = app_settings()["DATABASE_URL"].strip("'")
    url = make_url(
        expression.replace("${postgresAdminLogin}", "phoneconnector")
        .replace("${postgresAdminPassword}", "0d4f0a3e-7c55-4c1b-9a85-5d8f9d4a1c2b")
        .replace("${resourceBaseName}", "phoneconnabc")
        .replace("${postgresDatabaseName}", "bot")
    )
    assert url.drivername == "postgresql+asyncpg"
    assert url.host == "phoneconnabc.postgres.database.azure.com"
    assert url.query == {"ssl": "require"}, "Azure Database for PostgreSQL requires TLS"


# -- aad.manifest.json ------------------------------------------------------------------------------

GRAPH_PERMISSIONS = {"User.Read.All", "RoleManagement.Read.Directory"}


def test_the_entra_app_declares_the_graph_application_permissions_the_bot_uses() -> None:
    manifest = json.loads((ROOT / "aad.manifest.json").read_text("utf-8"))
    assert manifest["signInAudience"] == "AzureADMultipleOrgs", "customers' admins must be able to consent"
    [graph] = manifest["requiredResourceAccess"]
    assert graph["resourceAppId"] == "Microsoft Graph"
    assert {(a["id"], a["type"]) for a in graph["resourceAccess"]} == {(p, "Role") for p in GRAPH_PERMISSIONS}
    # The Graph client names the same ones when a tenant has not consented; a Graph call needing
    # another permission must add it to aad.manifest.json (and this set).
    client = (ROOT / "services" / "provisioning" / "graph.py").read_text("utf-8")
    [named] = re.findall(r'permissions="([^"]+)"', client)
    assert {p.strip() for p in named.split(",")} == GRAPH_PERMISSIONS


# -- .vscode/, toolkit/ ---------------------------------------------------------------------------


def test_vscode_launches_only_what_exists() -> None:
    launch = json.loads((ROOT / ".vscode" / "launch.json").read_text("utf-8"))
    tasks = json.loads((ROOT / ".vscode" / "tasks.json").read_text("utf-8"))
    labels = {task["label"] for task in tasks["tasks"]}
    for task in tasks["tasks"]:
        assert set(task.get("dependsOn", [])) <= labels
    names = {configuration["name"] for configuration in launch["configurations"]}
    for compound in launch["compounds"]:
        assert set(compound["configurations"]) <= names
        if "preLaunchTask" in compound:
            assert compound["preLaunchTask"] in labels
    python = next(c for c in launch["configurations"] if c["name"] == "Start Python")
    assert python["envFile"] == "${workspaceFolder}/.localConfigs"
    assert "target: ./.localConfigs" in (ROOT / "m365agents.local.yml").read_text("utf-8")
    assert (ROOT / "app.py").is_file() and (ROOT / ".m365agentsplayground.yml").is_file()


def test_the_toolkit_cli_is_pinned_and_locked() -> None:
    package = json.loads((ROOT / "toolkit" / "package.json").read_text("utf-8"))
    lock = json.loads((ROOT / "toolkit" / "package-lock.json").read_text("utf-8"))
    [(name, version)] = package["dependencies"].items()
    assert name == "@microsoft/m365agentstoolkit-cli" and re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert lock["packages"][f"node_modules/{name}"]["version"] == version
