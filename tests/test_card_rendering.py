"""Every card kind the bot sends renders cleanly in the official Adaptive Cards renderer.

The cards of tests/test_cards.ALL_CARDS (sample data) go through npm `adaptivecards` 3.0.6
(dist/adaptivecards.min.js) in headless chromium, at Teams' light host config (e2e/): parsed with a
1.5 serialization context (Teams renders Adaptive Cards up to 1.5), validated with
validateProperties(), rendered. Any parse or validation event, a render exception, an action that
did not become a button, or a console warning fails the card. One screenshot per card, plus one per
expanded ShowCard: test-output/cards/<name>.png, for a person to look at.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cards.common import to_dict
from tests.test_browser_e2e import E2E, ensure_browser_tools, output_dir
from tests.test_cards import ALL_CARDS

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Renders every card once (one chromium); returns name -> what the renderer reported."""
    node = ensure_browser_tools()
    out = output_dir("cards")
    cards_file = tmp_path_factory.mktemp("cards") / "cards.json"
    cards_file.write_text(json.dumps({name: to_dict(card) for name, card in ALL_CARDS.items()}))
    result = subprocess.run(
        [node, str(E2E / "render-cards.js"), json.dumps({"cards": str(cards_file), "out": str(out)})],
        cwd=E2E,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failed = [e["message"] for e in events if e["event"] == "failed"]
    assert result.returncode == 0 and not failed, "\n".join(failed) or result.stderr[-2000:]
    assert events[-1] == {"event": "finished", "count": len(ALL_CARDS)}
    return {e["name"]: e for e in events if e["event"] == "card"}


# Teams' dynamic typeahead: Teams documents `choices.data` for its cards (which Teams renders at
# 1.5); the generic JS renderer knows it only from 1.6 and drops it, leaving the static choices.
# That one property, and nothing else, is accepted.
TEAMS_EXTENSIONS = ('Property "choices.data" is supported in version 1.6',)


@pytest.mark.parametrize("name", list(ALL_CARDS))
def test_card_renders_without_warnings(rendered: dict[str, dict[str, Any]], name: str):
    result = rendered[name]
    problems = [
        f"{p['phase']} {p['event']}: {p['message']}"
        for p in result["problems"]
        if not any(allowed in p["message"] for allowed in TEAMS_EXTENSIONS)
    ]
    assert not problems, f"{name}:\n" + "\n".join(problems)
    shots = [Path(shot) for shot in result["shots"]]
    assert shots[0].name == f"{name}.png"
    for shot in shots:
        assert shot.read_bytes()[:8] == PNG, shot
