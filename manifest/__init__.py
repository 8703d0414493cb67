"""The Teams app package: manifest template, icons, offline checks and the `python -m manifest` command."""

from manifest.build import (
    DEFAULT_OUTPUT,
    ConfigurationError,
    PackageInvalid,
    build_package,
    fill_template,
    package_files,
    read_package,
    render_manifest,
)
from manifest.checks import check_package, package_problems, schema_problems, unavailable_checks
from manifest.settings import ManifestSettings

__all__ = [
    "DEFAULT_OUTPUT",
    "ConfigurationError",
    "ManifestSettings",
    "PackageInvalid",
    "build_package",
    "check_package",
    "fill_template",
    "package_files",
    "package_problems",
    "read_package",
    "render_manifest",
    "schema_problems",
    "unavailable_checks",
]
