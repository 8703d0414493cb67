"""The PBX side the provisioning platform does not list: locations, extensions and their caller IDs.

`PbxDirectory` is the seam; `FilePbxDirectory` is its first implementation, a CSV file the provider
maintains. A later implementation can ask the PBX's own API behind the same three methods.

Which extensions are *assigned* is not the PBX directory's business alone: the platform's API has no
documented user listing, so the ConnecttoTeams service combines (1) the optional `assigned_to` column
of this file (users that existed before the bot) with (2) its own record of every add it made
(services/provisioning/connecttoteams/records.py). The platform itself stays the final judge: it refuses a taken extension.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("tenant_id", "pbx_location", "pbx_domain", "extension", "caller_id")
# Optional: `pbx_location_id` (the platform's identifier for the PBX location, sent as `pbxLocation`,
# when it is not the location's name) and `assigned_to` (the UPN already using the extension).
OPTIONAL_COLUMNS = ("pbx_location_id", "assigned_to")


class PbxLocation(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str
    domain: str
    platform_id: str | None = None

    @property
    def platform_location(self) -> str:
        """What the platform's `pbxLocation` field gets."""
        return self.platform_id or self.name


class PbxExtension(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    pbx_location: str
    number: str
    caller_id: str
    assigned_to: str | None = None


class PbxDirectory(Protocol):
    async def locations(self, tenant_id: str) -> list[PbxLocation]: ...

    async def extensions(self, tenant_id: str) -> list[PbxExtension]: ...

    async def extension(self, tenant_id: str, pbx_location: str, number: str) -> PbxExtension | None: ...


class PbxDirectoryError(ValueError):
    """The provider's file cannot be used; the message names the line and the problem."""


@dataclass(frozen=True)
class _Snapshot:
    mtime_ns: int
    locations: dict[str, list[PbxLocation]]
    extensions: dict[str, list[PbxExtension]]


class FilePbxDirectory:
    """Reads the CSV on first use and again whenever the file changes (the provider edits it live).

    A file that becomes unreadable or invalid after a good load keeps the last good content and logs
    an error, so a half-saved edit does not take every form down.
    """

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._snapshot: _Snapshot | None = None
        self._lock = asyncio.Lock()

    async def locations(self, tenant_id: str) -> list[PbxLocation]:
        return list((await self._current()).locations.get(tenant_id, []))

    async def extensions(self, tenant_id: str) -> list[PbxExtension]:
        return list((await self._current()).extensions.get(tenant_id, []))

    async def extension(self, tenant_id: str, pbx_location: str, number: str) -> PbxExtension | None:
        for ext in (await self._current()).extensions.get(tenant_id, []):
            if ext.pbx_location == pbx_location and ext.number == number:
                return ext
        return None

    async def _current(self) -> _Snapshot:
        async with self._lock:
            try:
                mtime = (await asyncio.to_thread(os.stat, self._path)).st_mtime_ns
            except OSError as exc:
                if self._snapshot is None:
                    raise PbxDirectoryError(
                        f"PBX directory file {self._path} cannot be read: {exc}"
                    ) from None
                log.error(
                    "PBX directory file %s cannot be read (%s); using the last good copy", self._path, exc
                )
                return self._snapshot
            if self._snapshot is not None and self._snapshot.mtime_ns == mtime:
                return self._snapshot
            text = await asyncio.to_thread(self._path.read_text, encoding="utf-8-sig")
            try:
                locations, extensions = parse_pbx_csv(text, source=str(self._path))
            except PbxDirectoryError:
                if self._snapshot is None:
                    raise
                log.exception("PBX directory file %s is invalid; using the last good copy", self._path)
                return self._snapshot
            self._snapshot = _Snapshot(mtime, locations, extensions)
            return self._snapshot


def parse_pbx_csv(
    text: str, source: str = "PBX directory"
) -> tuple[dict[str, list[PbxLocation]], dict[str, list[PbxExtension]]]:
    """Locations and extensions per tenant, sorted; raises PbxDirectoryError naming the bad line."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise PbxDirectoryError(f"{source}: missing column(s) {', '.join(missing)}")
    locations: dict[tuple[str, str], PbxLocation] = {}
    extensions: dict[tuple[str, str, str], PbxExtension] = {}
    for line_number, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        for column in REQUIRED_COLUMNS:
            if not row.get(column):
                raise PbxDirectoryError(f"{source} line {line_number}: {column} is empty")
        tenant_id, name, number = row["tenant_id"], row["pbx_location"], row["extension"]
        if not number.isdigit():
            raise PbxDirectoryError(f"{source} line {line_number}: extension {number!r} is not digits")
        location = PbxLocation(
            tenant_id=tenant_id,
            name=name,
            domain=row["pbx_domain"],
            platform_id=row.get("pbx_location_id") or None,
        )
        known = locations.setdefault((tenant_id, name), location)
        if known != location:
            raise PbxDirectoryError(
                f"{source} line {line_number}: location {name!r} has another domain or id than above"
            )
        key = (tenant_id, name, number)
        if key in extensions:
            raise PbxDirectoryError(f"{source} line {line_number}: extension {number} on {name!r} repeated")
        extensions[key] = PbxExtension(
            tenant_id=tenant_id,
            pbx_location=name,
            number=number,
            caller_id=row["caller_id"],
            assigned_to=row.get("assigned_to") or None,
        )
    by_tenant_locations: dict[str, list[PbxLocation]] = {}
    for loc in sorted(locations.values(), key=lambda x: x.name):
        by_tenant_locations.setdefault(loc.tenant_id, []).append(loc)
    by_tenant_extensions: dict[str, list[PbxExtension]] = {}
    for ext in sorted(extensions.values(), key=lambda x: (x.pbx_location, _number_key(x.number))):
        by_tenant_extensions.setdefault(ext.tenant_id, []).append(ext)
    return by_tenant_locations, by_tenant_extensions


def write_pbx_csv(rows: Iterable[dict[str, str]]) -> str:
    """The CSV text for rows with the columns above (for tools and tests that build a directory)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _number_key(number: str) -> tuple[int, str]:
    return (len(number), number)
