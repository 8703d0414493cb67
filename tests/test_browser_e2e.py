"""End to end in Microsoft's local Teams client (Agents Playground), driven in headless chromium.

Each test starts the bot (`python app.py`, its own data directory) and the playground on free ports,
then runs one Node script from e2e/ that drives chromium with playwright-core and prints one JSON
line per step (what the card showed, and the screenshot taken). The assertions are on what the user
sees. Screenshots: test-output/browser/<test>/NN-<step>.png, with the bot's and the playground's logs.

Needs node + npm and Debian's chromium (/usr/bin/chromium, or CHROMIUM_PATH); the npm packages of
e2e/ and playground/ are installed on first use. Without them the tests skip, except under CI=true,
where they fail.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from i18n import ENGLISH, FRENCH, Words

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
E2E = ROOT / "e2e"
PLAYGROUND = ROOT / "playground"
PLAYGROUND_CLI = PLAYGROUND / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
OUTPUT = ROOT / "test-output"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")
DEMO_PARTNER = ROOT / "scripts" / "demo-partner-request"
STEP_TIMEOUT = 90.0


# -- what the browser tests need --------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip with the reason on a developer's machine; fail in CI, where the tests must run."""
    message = f"browser tests need {reason}"
    if in_ci():
        pytest.fail(message + " (CI=true: .ci/run installs them)", pytrace=False)
    pytest.skip(message)


def npm_ci(directory: Path, marker: Path) -> None:
    """`npm ci` in `directory` when `marker` (a file of an installed package) is missing."""
    if marker.exists():
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not marker.exists():
        unavailable(f"the npm packages of {directory.name}/ (npm ci failed: {result.stderr.strip()[-500:]})")


def ensure_browser_tools() -> str:
    """node, npm, chromium and the npm packages (installed if missing); returns the path of node."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        unavailable("Node.js 20 with npm (not found on PATH)")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"chromium at {CHROMIUM} (Debian: apt-get install chromium fonts-noto-color-emoji)")
    npm_ci(E2E, E2E / "node_modules" / "playwright-core" / "package.json")
    npm_ci(E2E, E2E / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js")
    npm_ci(PLAYGROUND, PLAYGROUND_CLI)
    assert node is not None
    return node


@pytest.fixture(scope="session")
def browser_tools() -> str:
    return ensure_browser_tools()


def output_dir(*parts: str) -> Path:
    """A fresh folder under test-output/ (the previous run's files are removed)."""
    path = OUTPUT.joinpath(*parts)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# -- the bot and the playground --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def wait_until(check: Any, what: str, process: subprocess.Popen[Any], log: Path, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"{what}: the process ended with {process.returncode}; {log}:\n{tail(log)}")
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {within:.0f} s; {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class Stack:
    bot_url: str
    playground_url: str
    out: Path


@pytest.fixture
def stack(browser_tools: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The bot (local mode, embedded demo world, fresh database) and the playground in front of it."""
    with running_stack(browser_tools, tmp_path, request, [sys.executable, str(ROOT / "app.py")]) as running:
        yield running


@pytest.fixture
def ctt_stack(browser_tools: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The bot on its ConnecttoTeams backend, the platform and Graph answered by the local doubles
    (tests/ctt_local.py, no tenant consented), and the playground in front of it."""
    command = [sys.executable, "-m", "tests.ctt_local", "--data-dir", str(tmp_path / "data")]
    with running_stack(browser_tools, tmp_path, request, command) as running:
        yield running


@contextmanager
def running_stack(
    browser_tools: str, tmp_path: Path, request: pytest.FixtureRequest, command: list[str]
) -> Iterator[Stack]:
    out = output_dir("browser", request.node.name)
    bot_port = free_port()
    env = {
        **os.environ,
        # Local mode and the embedded world, whatever a developer's .env says.
        "MicrosoftAppId": "",
        "MicrosoftAppPassword": "",
        "HOST": "127.0.0.1",
        "PORT": str(bot_port),
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        "PROVISIONING_BACKEND": "embedded",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
        # Each provisioning step takes a moment, as a real one does: the progress shows.
        "EMBEDDED_DELAY_SECONDS": "0.3",
        "PYTHONPATH": str(ROOT),
    }
    bot_log = out / "bot.log"
    with bot_log.open("w") as log:
        bot = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    bot_url = f"http://127.0.0.1:{bot_port}"
    playground: subprocess.Popen[Any] | None = None
    try:
        wait_until(lambda: http_ok(f"{bot_url}/healthz"), "the bot's /healthz", bot, bot_log)
        pg_out = out / "playground.out"
        with pg_out.open("w") as log:
            playground = subprocess.Popen(
                [
                    browser_tools,
                    str(PLAYGROUND_CLI),
                    "-e",
                    f"{bot_url}/api/messages",
                    "-c",
                    "msteams",
                    "-p",
                    str(free_port()),
                    "--dt",
                ],
                cwd=ROOT,  # it reads .m365agentsplayground.yml from here
                env={
                    **os.environ,
                    "TEAMSAPPTESTER_BROWSER": "none",  # else it dies where xdg-open is missing
                    "M365_AGENTS_PLAYGROUND_LOGFILE": str(out / "playground.log"),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def listening() -> str | None:
            match = re.search(r"Listening on (\d+)", pg_out.read_text(errors="replace"))
            return match.group(1) if match else None

        pg_port = wait_until(listening, "the playground", playground, pg_out)
        playground_url = f"http://127.0.0.1:{pg_port}"
        wait_until(lambda: http_ok(playground_url), "the playground's page", playground, pg_out)
        yield Stack(bot_url, playground_url, out)
    finally:
        if playground is not None:
            stop(playground)
        stop(bot)


# -- the Node scenarios ---------------------------------------------------------------------------


class Scenario:
    """One Node script from e2e/, running; its JSON lines are read as they come."""

    def __init__(self, node: str, script: str, options: dict[str, Any]) -> None:
        self.stderr = Path(options["out"]) / f"{script}.stderr.txt"
        with self.stderr.open("w") as stderr:
            self.process = subprocess.Popen(
                [node, str(E2E / script), json.dumps(options)],
                cwd=E2E,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.events.put(json.loads(line))
        self.events.put(None)

    def next(self, within: float = STEP_TIMEOUT) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=within)
        except queue.Empty:
            self.process.kill()
            pytest.fail(f"the browser script said nothing for {within:.0f} s; so far: {self.seen}")
        if event is None:
            pytest.fail(f"the browser script ended early ({self.process.wait()}): {tail(self.stderr)}")
        self.seen.append(event)
        if event["event"] == "failed":
            pytest.fail(f"in the browser: {event['message']}\nscreenshot: {event.get('shot')}", pytrace=False)
        return event

    def until(self, kind: str) -> dict[str, Any]:
        while True:
            event = self.next()
            if event["event"] == kind:
                return event

    def steps(self) -> dict[str, dict[str, Any]]:
        """Runs to the end; every step the script took, by name, in order (also kept in steps.json
        next to the screenshots)."""
        while self.next()["event"] != "finished":
            pass
        assert self.process.wait(timeout=30) == 0
        steps = {e["step"]: e for e in self.seen if e["event"] == "step"}
        (self.stderr.parent / "steps.json").write_text(json.dumps(steps, ensure_ascii=False, indent=1))
        return steps

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def scenario(node: str, script: str, options: dict[str, Any]) -> Iterator[Scenario]:
    running = Scenario(node, script, options)
    try:
        yield running
    finally:
        running.close()


def assert_screenshots(steps: dict[str, dict[str, Any]], out: Path) -> None:
    for name, step in steps.items():
        shot = Path(step["shot"])
        assert shot.parent == out and shot.name.endswith(f"-{name}.png"), shot
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG"


def fact(text: str, title: str, value: str) -> bool:
    """A fact row as the card shows it (title and value on their own lines)."""
    return re.search(rf"{re.escape(title)}\s+{re.escape(value)}(\s|$)", text) is not None


def numbers_in(ranges: str) -> list[str]:
    """The numbers of a hint such as "102-113, 115" (runs shortened), in order."""
    found: list[str] = []
    for part in ranges.split(","):
        first, _, last = part.strip().partition("-")
        found += [str(n) for n in range(int(first), int(last or first) + 1)]
    return found


def free_extensions(words: Words, form: str) -> list[str]:
    """The free extensions the add-user form lists (one PBX location), in its reader's language."""
    pattern = re.escape(words("Free extensions: {extensions}.", extensions="\0")).replace(
        re.escape("\0"), r"([0-9][0-9, -]*[0-9])"
    )
    found = re.search(pattern, form)
    assert found, form
    return numbers_in(found.group(1))


def text_box(fields: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """The one text box of a form (as e2e/lib.js `fields` reports them) whose label starts with `label`."""
    found = [f for f in fields if f["label"].startswith(label)]
    assert len(found) == 1, (label, fields)
    return found[0]


def assert_add_user_form(words: Words, form: str, fields: list[dict[str, Any]]) -> None:
    """What the add-user form shows before anything is typed (issue 19): the extension's placeholder
    is the first free extension, the SIP authentication ID is shown (derived from the extension), not
    asked, and the phone number takes a whole E.164 number and says nothing of a portal."""
    free = free_extensions(words, form)
    assert "105" in free, form
    extension = text_box(fields, words("SIP user (PBX extension)"))
    assert extension["placeholder"] == words("e.g. {extension}", extension=free[0]), extension
    assert extension["value"] == ""
    phone = text_box(fields, words("Phone number"))
    assert phone["maxLength"] == 16, phone
    hint = words("The Phone Connector needs the extension here, not the PBX caller ID: leave it as it is.")
    assert hint in form
    assert "portal" not in form.lower(), form
    sip_auth = words("Device: SIP authentication ID")
    assert not [f for f in fields if words("SIP authentication ID") in f["label"]], fields
    assert fact(
        form,
        sip_auth,
        words("The extension followed by {suffix}, e.g. {example}", suffix="t", example=f"{free[0]}t"),
    ), form


# -- the tests ----------------------------------------------------------------------------------------


def test_admin_adds_a_phone_user_in_the_teams_client(browser_tools: str, stack: Stack):
    with scenario(
        browser_tools, "admin-flow.js", {"url": stack.playground_url, "out": str(stack.out)}
    ) as run:
        steps = run.steps()
    assert list(steps) == ["opened", "form", "filled", "review", "progress", "done"]
    assert_screenshots(steps, stack.out)

    assert "Hi Ada Admin!" in steps["opened"]["text"]
    assert "You are a global administrator" in steps["opened"]["text"]

    form = steps["form"]["text"]
    assert "Add a phone user to Contoso" in form
    assert_add_user_form(Words(ENGLISH), form, steps["form"]["fields"])

    assert steps["filled"]["values"] == {
        "voiceRoute": "CA Central",
        "teamsUser": "Adele Vance (adele@contoso.example)",
        "extension": "105",
    }

    review = steps["review"]["text"]
    assert "Check and add" in review
    for title, value in [
        ("Tenant", "Contoso"),
        ("Voice route", "CA Central"),
        ("Teams user", "Adele Vance, adele@contoso.example"),
        ("SIP user", "105"),
        ("Phone number", "105"),
        ("SIP authentication ID", "105t"),
        ("Device password", "generated: 8 characters"),
    ]:
        assert fact(review, title, value), (title, value, review)

    assert "Adding Adele Vance, adele@contoso.example (extension 105)" in steps["progress"]["text"]

    done = steps["done"]["text"]
    assert "✅ Add Adele Vance, adele@contoso.example at the provisioning service" in done
    assert "✅ Sync Teams users" in done
    assert "✅ Enable calling: Calling enabled" in done
    assert (
        "Done. Adele Vance, adele@contoso.example can make and receive Teams calls on extension 105." in done
    )
    assert "⏳" not in done and "❌" not in done


def test_a_global_admin_signs_in_from_the_card_on_the_platform_backend(browser_tools: str, ctt_stack: Stack):
    with scenario(
        browser_tools, "sign-in-flow.js", {"url": ctt_stack.playground_url, "out": str(ctt_stack.out)}
    ) as run:
        steps = run.steps()
    assert list(steps) == [
        "opened",
        "form",
        "filled",
        "review",
        "progress",
        "sign-in-asked",
        "portal",
        "signed-in",
        "done",
    ]
    assert_screenshots(steps, ctt_stack.out)
    assert "Add a phone user to Contoso" in steps["form"]["text"]
    assert_add_user_form(Words(ENGLISH), steps["form"]["text"], steps["form"]["fields"])
    assert fact(steps["review"]["text"], "Teams user", "Adele Vance, adele@contoso.example")
    asked = steps["sign-in-asked"]["text"]
    assert "Waiting for a Global Admin of Contoso to sign in" in asked
    assert "Contoso has not allowed management by the service provider" in asked
    assert "Global Admin sign-in (simulated)" in steps["portal"]["text"]
    assert "/action/" in steps["portal"]["url"]
    assert "The bot answered 200" in steps["signed-in"]["text"]
    assert "Calling is enabled for adele@contoso.example in Contoso" in steps["signed-in"]["text"]
    done = steps["done"]["text"]
    assert "✅ Enable calling: Calling enabled after ga@" in done
    assert (
        "Done. Adele Vance, adele@contoso.example can make and receive Teams calls on extension 105." in done
    )
    assert "Sign in as Global Admin to finish" not in done


def test_an_admin_chooses_french_and_adds_a_phone_user_in_french(browser_tools: str, stack: Stack):
    """The playground's client always says en-US: Ada types `langue`, then `français`, as a person
    would, and everything after is French."""
    with scenario(
        browser_tools, "admin-flow-fr.js", {"url": stack.playground_url, "out": str(stack.out)}
    ) as run:
        steps = run.steps()
    assert list(steps) == ["french-chosen", "form", "filled", "review", "done"]
    assert_screenshots(steps, stack.out)
    words = Words(FRENCH)
    form = steps["form"]["text"]
    assert words("Add a phone user to {tenant}", tenant="Contoso") in form
    assert_add_user_form(words, form, steps["form"]["fields"])
    review = steps["review"]["text"]
    for title, value in [
        (words("Voice route"), "CA Central"),
        (words("Teams user"), "Adele Vance, adele@contoso.example"),
        (words("SIP user"), "105"),
        (words("SIP authentication ID"), "105t"),
    ]:
        assert fact(review, title, value), (title, value, review)
    done = steps["done"]["text"]
    assert "✅ " + words("Enable calling") in done
    added = words(
        "**Done.** {user} can make and receive Teams calls on extension {extension}.",
        user="Adele Vance, adele@contoso.example",
        extension="105",
    )
    assert added.replace("**", "") in done
    for english in ("Done.", "Add a phone user", "Voice route", "Enable calling", "Check and add"):
        assert all(english not in step.get("text", "") for step in steps.values()), english


def test_partner_asks_and_the_admin_approves_in_the_teams_client(browser_tools: str, stack: Stack):
    with scenario(
        browser_tools, "approve-flow.js", {"url": stack.playground_url, "out": str(stack.out)}
    ) as run:
        run.until("ready")  # Ada has the chat open: the bot knows her conversation

        # Pat Partner (Northwind Voice, another tenant) asks, through the playground's API.
        pat = subprocess.run(
            [sys.executable, str(DEMO_PARTNER), "--url", stack.playground_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        (stack.out / "demo-partner-request.txt").write_text(pat.stdout + pat.stderr)
        assert pat.returncode == 0, pat.stdout + pat.stderr
        # Litware: the demo world's tenant for a 200-user bulk add, which Northwind manages too.
        assert "Bot: which enterprise? (Contoso, Fabrikam, Litware)" in pat.stdout
        assert "extension 108; clicks Review" in pat.stdout
        assert "an approval card went to Ada Admin" in pat.stdout
        assert pat.stdout.rstrip().splitlines()[-2] == "Now click Approve in the playground as Ada Admin"

        steps = run.steps()
    assert list(steps) == ["opened", "approval-card", "partner-waiting", "approved", "done", "partner-side"]
    assert_screenshots(steps, stack.out)

    card = steps["approval-card"]["text"]
    assert card.startswith("Approve a new phone user for Contoso?")
    assert "Pat Partner (Northwind Voice) added Isaiah Langer, isaiah@contoso.example" in card
    for title, value in [
        ("Voice route", "US West"),
        ("Teams user", "Isaiah Langer, isaiah@contoso.example"),
        ("SIP user", "108"),
    ]:
        assert fact(card, title, value), (title, value, card)
    assert card.rstrip().endswith("Approve\nReject")

    assert "Waiting for a global admin of Contoso to enable calling" in steps["partner-waiting"]["text"]

    approved = steps["approved"]["text"]
    assert "Approved by Ada Admin at" in approved
    assert not approved.rstrip().endswith("Reject"), "no buttons once decided"

    done = steps["done"]["text"]
    assert "Approved by Ada Admin at" in done
    assert "✅ Sync Teams users" in done and "✅ Enable calling: Calling enabled" in done
    assert "Done. Calling is enabled for Isaiah Langer, isaiah@contoso.example." in done
    assert steps["done"]["approvalCards"] == 1, "Ada got one approval card, updated in place"

    partner = steps["partner-side"]
    assert "Adding Isaiah Langer, isaiah@contoso.example (extension 108)" in partner["text"]
    assert "Approved by Ada Admin at" in partner["text"]
    assert (
        "Done. Isaiah Langer, isaiah@contoso.example can make and receive Teams calls on extension 108."
        in partner["text"]
    )
    assert "Ada Admin approved your request" in partner["chat"]
    assert (
        "Done: Isaiah Langer, isaiah@contoso.example in Contoso can now make and receive Teams calls"
        in partner["chat"]
    )
