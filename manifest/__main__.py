"""`python -m manifest build` writes the Teams app package an admin uploads; `check` validates one."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.settings import Settings
from manifest.build import DEFAULT_OUTPUT, ConfigurationError, PackageInvalid, build_package, read_package
from manifest.checks import check_package, unavailable_checks
from manifest.settings import ManifestSettings

log = logging.getLogger("manifest")

# Exit statuses: 0 written or valid, 1 the package has problems, 2 a setting or file is unusable.
OK, PROBLEMS, UNUSABLE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manifest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build", help="fill the manifest from settings, validate it and write the app package"
    )
    build.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the zip (default {DEFAULT_OUTPUT})",
    )
    check = commands.add_parser("check", help="validate an existing app package (a zip)")
    check.add_argument("package", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "build":
        return _build(args.output)
    return _check(args.package)


def _build(output: Path) -> int:
    try:
        settings, publisher = Settings(), ManifestSettings()
    except ValidationError as exc:
        for error in exc.errors():
            log.error("Setting %s is invalid: %s.", ".".join(map(str, error["loc"])), error["msg"])
        return UNUSABLE
    try:
        manifest = build_package(settings, publisher, output)
    except ConfigurationError as exc:
        log.error("%s", exc)
        return UNUSABLE
    except PackageInvalid as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("Nothing written: %d problem(s) in the app package.", len(exc.problems))
        return PROBLEMS
    log.info(
        "Wrote %s: app %s version %s, app id %s, manifest schema %s.",
        output.resolve(),
        manifest["name"]["short"],
        manifest["version"],
        manifest["id"],
        manifest["manifestVersion"],
    )
    if placeholders := publisher.placeholders():
        log.warning(
            "Still example values: %s. Fine for a test tenant; set them before a production upload.",
            ", ".join(placeholders),
        )
    _say_what_was_not_checked(output)
    return OK


def _say_what_was_not_checked(package: Path) -> None:
    """A runtime-only install checks the package rules and the settings, not the schema or pixels."""
    if missing := unavailable_checks():
        log.warning(
            "Not checked by this install: %s. The template and icons pass them in CI; to check "
            "this package too, install the dev requirements (pip install -r requirements-dev.txt) "
            "and run `python -m manifest check %s`, or run Microsoft's validator "
            '(docs/deploy.md, "Check a package with Microsoft\'s validator").',
            "; ".join(missing),
            package,
        )


def _check(package: Path) -> int:
    try:
        files = read_package(package)
    except ConfigurationError as exc:
        log.error("%s", exc)
        return UNUSABLE
    problems = check_package(files)
    for problem in problems:
        log.error("%s", problem)
    if problems:
        log.error("%s is not a valid app package: %d problem(s).", package, len(problems))
        return PROBLEMS
    log.info("%s is a valid app package.", package)
    _say_what_was_not_checked(package)
    return OK


if __name__ == "__main__":
    raise SystemExit(main())
