"""`python -m manifest` from a runtime-only install (requirements.txt: no jsonschema, no Pillow).

The command runs in a subprocess where those imports fail as they do when the packages are not
installed: it builds the same package, says which checks it could not run and how to run them,
and still refuses bad settings and packages that break the rules it can check.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from manifest import build_package
from tests.test_manifest import APP_ID, PUBLISHER_VARIABLES, bot_settings, good_files, icon, publisher

RUNTIME_ONLY = """
import sys
class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"jsonschema", "jsonschema_specifications", "referencing", "rpds", "PIL"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NotInstalled())
from manifest.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def manifest_command(*args: str, app_id: str = APP_ID, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in PUBLISHER_VARIABLES} | env
    environment["MicrosoftAppId"] = app_id
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", RUNTIME_ONLY, *args]
    return subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=120)


def test_the_package_builds_from_a_runtime_only_install_and_says_what_it_did_not_check(
    tmp_path: Path,
) -> None:
    output = tmp_path / "appPackage.zip"
    result = manifest_command("build", "--output", str(output), TEAMS_APP_DOMAIN="bot.contoso.com")
    assert result.returncode == 0, result.stderr
    assert (
        "Not checked by this install: the official manifest and localization JSON schemas (needs "
        in result.stderr
    )
    assert "the outline icon's pixels, white on transparent (needs Pillow)" in result.stderr
    full = tmp_path / "full.zip"
    build_package(bot_settings(), publisher(TEAMS_APP_DOMAIN="bot.contoso.com"), full)
    assert output.read_bytes() == full.read_bytes(), "the same package as with every check installed"
    assert manifest_command("check", str(output)).returncode == 0


def test_a_runtime_only_install_still_refuses_bad_settings_and_broken_packages(tmp_path: Path) -> None:
    output = tmp_path / "appPackage.zip"
    long_name = manifest_command("build", "--output", str(output), TEAMS_APP_DEVELOPER_NAME="x" * 33)
    assert long_name.returncode == 2, long_name.stderr
    assert long_name.stderr.strip() == (
        "Setting TEAMS_APP_DEVELOPER_NAME is invalid: String should have at most 32 characters."
    )
    assert manifest_command("build", "--output", str(output), app_id="not-a-guid").returncode == 2
    files = good_files()
    files["outline.png"] = icon((64, 64), (255, 255, 255, 0))
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    refused = manifest_command("check", str(broken))
    assert refused.returncode == 1 and "is 64x64 pixels; it must be 32x32" in refused.stderr
    assert not output.exists()
