"""Which process runs a request's pipeline: a lease on the request's row, taken by the click that
starts the work (in the same write), renewed while a step runs, given back when it ends.

Another instance takes a request over only once its lease has run out (its holder died), so two
instances never run the same steps. Its own module, below the pipeline, because the decisions, the
drafts and the sign-in completion take the lease as well as the pipeline."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from itertools import islice
from typing import Any

from sqlalchemy import case, null, or_, update

from services import db
from services.db import utcnow
from services.requests.repository import RequestRepository

log = logging.getLogger(__name__)


class PipelineLeases(RequestRepository):
    # Set by RequestService.__init__: this process's name in the lease column, and how long a lease lasts.
    worker_id: str
    _lease: timedelta

    def _lease_values(self) -> dict[str, Any]:
        """Also written by the click that starts a pipeline (submit, approve, retry), in the same
        statement: no other instance's sweep takes the request before this one's run starts."""
        return {"worker_id": self.worker_id, "worker_lease_until": utcnow() + self._lease}

    def _lease_written(self, request_id: str, worker_id: Any, at: float) -> None:
        """Noted when a click's transition took this process's lease, for the pipeline it starts."""
        taken = self._leases_taken
        if worker_id != self.worker_id:
            taken.pop(request_id, None)
            return
        taken.pop(request_id, None)
        taken[request_id] = at
        for oldest, when in list(islice(taken.items(), 8)):  # oldest first: drop what no run used
            if at - when < self._lease.total_seconds() / 3:
                break
            del taken[oldest]

    def _taken_lately(self, request_id: str) -> float | None:
        """When this process's own transition took the lease, if within a third of the lease: the
        pipeline then holds it without claiming it again (nobody takes a lease over before it runs
        out), as `_run_claimed` skips a renewal. Once only: a later run claims."""
        at = self._leases_taken.pop(request_id, None)
        if at is None or time.monotonic() - at >= self._lease.total_seconds() / 3:
            return None
        return at

    # Set by RequestService.__init__: request id -> when this process's write took its lease.
    _leases_taken: dict[str, float]

    async def _claim(self, request_id: str) -> bool:
        """Take (or renew) the pipeline lease; False when another live worker holds it."""
        r = db.requests
        now = utcnow()
        mine_or_free = or_(
            r.c.worker_id == self.worker_id, r.c.worker_lease_until.is_(None), r.c.worker_lease_until < now
        )
        claim = update(r).where(r.c.request_id == request_id, mine_or_free).values(**self._lease_values())
        return await self._db.write(lambda conn: conn.execute(claim).rowcount == 1)

    async def _keep_lease(self, request_id: str) -> None:
        """Renews the lease while a step runs: a slow provisioning call (retries, Retry-After)
        must not look like a dead instance to the others."""
        r = db.requests
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            renew = (
                update(r)
                .where(r.c.request_id == request_id, r.c.worker_id == self.worker_id)
                .values(worker_lease_until=utcnow() + self._lease)
            )
            try:
                await self._db.write(lambda conn, renew=renew: conn.execute(renew))
            except Exception:
                log.warning("could not renew the pipeline lease", exc_info=True)

    async def release_leases(self) -> int:
        """On a graceful stop, after the running work was drained or cancelled: give back every
        lease of this process (also of work cancelled before it started), so a restart or another
        instance resumes those requests at once instead of when the leases run out."""
        r = db.requests
        release = (
            update(r).where(r.c.worker_id == self.worker_id).values(worker_id=None, worker_lease_until=None)
        )
        self._leases_taken.clear()
        return await self._db.write(lambda conn: conn.execute(release).rowcount)

    async def take_over_leases(self) -> int:
        """On start with SQLite, where one process owns the database by design: every lease held by
        another worker is a dead process's (the last one, killed or crashed without releasing), so
        its requests are resumed at once rather than when the leases run out (PostgreSQL keeps the
        leases: there another instance may be alive and working)."""
        r = db.requests
        free = (
            update(r)
            .where(r.c.worker_id.is_not(None), r.c.worker_id != self.worker_id)
            .values(worker_id=None, worker_lease_until=None)
        )
        return await self._db.write(lambda conn: conn.execute(free).rowcount)

    def _release_values(self) -> dict[str, Any]:
        """Give the lease back in a transition's own write (the pipeline's last step), if it is
        still this process's: one statement fewer than `_release` after it."""
        r = db.requests
        mine = r.c.worker_id == self.worker_id
        return {
            "worker_id": case((mine, null()), else_=r.c.worker_id),
            "worker_lease_until": case((mine, null()), else_=r.c.worker_lease_until),
        }

    async def _release(self, request_id: str) -> None:
        r = db.requests
        release = (
            update(r)
            .where(r.c.request_id == request_id, r.c.worker_id == self.worker_id)
            .values(worker_id=None, worker_lease_until=None)
        )
        self._leases_taken.pop(request_id, None)
        await self._db.write(lambda conn: conn.execute(release))
