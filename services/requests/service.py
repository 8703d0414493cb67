"""RequestService: the one object dialogs/, app.py and the tests use for provisioning requests, made of
the parts of this package, each in its own module:

- repository.py    reading requests, their cards and the audit trail
- access.py        who may see / change / approve / retry / stop / start what (plain functions)
- transitions.py   the state machine's one door: a conditional write with its audit row and notices
- leases.py        which process runs a request's pipeline
- decisions.py     approve, reject, stop a wait for a sign-in, retry; reminders
- drafts.py        start, save and reopen the form, submit, cancel
- admin_sign_in.py the Global Admin sign-in a tenant without consent needs
- pipeline.py      the provisioning steps, one transition each
- phone_users.py   the `phone users` list and one phone user (read only)
- actions.py       an action on one phone user: start (its draft), confirm, "Done in the portal"
- action_steps.py  those actions' pipeline steps (change, new device password, disable, delete)
- batches.py       bulk add: a file checked into draft rows, queued, started a few at a time
- batch_approvals.py a partner's bulk add: one approval of all its rows, reject, expiry

Composed as mixins, not as collaborators the class delegates to: the parts call one another all the
time (a submit, an approval and a retry take the pipeline's lease in their own write; a cancel may be
the stop of a sign-in wait; a pipeline step asks for a sign-in), and callers use nearly thirty methods by
the names they had. Delegating would write each of them twice. Each part names the parts it uses as
its bases, so its dependencies are in its class line, the MRO is a straight line down to the
repository, and nothing is found only at run time:

    RequestService -> PhoneUserActions -> BatchDecisions -> Batches -> Drafts -> Decisions -> PhoneUserViews
                   -> ProvisioningPipeline -> ActionSteps -> AdminSignIn
                   -> RequestTransitions -> PipelineLeases -> RequestRepository
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from services.db import Database
from services.directory import Directory
from services.provisioning.protocol import ProvisioningService
from services.requests.actions import PhoneUserActions
from services.requests.batch_approvals import BatchDecisions
from services.requests.drafts import FormResult
from services.requests.pipeline import ProvisioningPipeline


class RequestService(PhoneUserActions, BatchDecisions, ProvisioningPipeline):
    """Creates and moves provisioning requests; the only code that writes the requests table."""

    def __init__(
        self,
        database: Database,
        provisioning: ProvisioningService,
        directory: Directory,
        *,
        lease_seconds: float = 60.0,
        sip_auth_suffix: str = "t",
        sip_auth_editable: bool = False,
    ) -> None:
        self._db = database
        self._provisioning = provisioning
        self._directory = directory
        # Which process runs a request's pipeline: another instance takes it over only once the
        # lease has run out (its holder died), so two instances never run the same steps.
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease = timedelta(seconds=lease_seconds)
        self._running = {}
        self._leases_taken = {}
        self._card_refs = {}
        self._sip_auth_suffix = sip_auth_suffix
        self._sip_auth_editable = sip_auth_editable


__all__ = ["FormResult", "RequestService"]
