"""Texts a request keeps for later (its error, its steps' notes, the decision's note, the audit trail's
notes) are stored as `Text`s and shown in the reader's language; what the release before wrote, plain
English, still reads back and shows as it is."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update

from i18n import ENGLISH, FRENCH, Text, Words, as_text
from services import db
from services.db import utcnow
from services.errors import ProvisioningError
from services.models import ProvisioningRequest, RequestState, StepOutcome, Steps
from services.requests.transitions import fitted
from tests.doubles import CONTOSO
from tests.unit.requests.world import World

FRENCH_WORDS = Words(FRENCH)


async def stored(world: World, request: ProvisioningRequest) -> Any:
    r = db.requests
    query = select(r.c.error, r.c.steps, r.c.decision_note).where(r.c.request_id == request.request_id)
    return await world.database.read(lambda conn: conn.execute(query).one())


async def test_a_failed_steps_error_and_note_are_stored_as_texts_and_shown_in_french(world: World):
    submitted = await world.submitted(world.admin)
    world.provisioning.faults.fail_next("sync_users")
    assert await world.run(submitted, world.admin) == [RequestState.user_added, RequestState.failed]
    failed = await world.requests.get(submitted.request_id)

    english = "The provisioning service did not answer in time. Nothing was lost; try again."
    french = "Le service de provisionnement n'a pas répondu à temps. Rien n'a été perdu; réessayez."
    row = await stored(world, failed)
    assert json.loads(row.error) == {"i18n_template": english, "values": {}}
    assert row.steps["sync_note"] == english, "the release before reads the English note"
    assert row.steps["sync_text"] == {"i18n_template": english, "values": {}}

    assert failed.error == failed.steps.sync_note == english
    assert failed.error_text == Text(english, {}) == failed.steps.text_of("sync")
    assert FRENCH_WORDS(failed.error_text) == FRENCH_WORDS(failed.steps.sync_text) == french
    assert Words(ENGLISH)(failed.error_text) == english

    # "Try again" clears the error and the failed step's note, in both forms.
    retried = await world.requests.retry(world.admin, failed.request_id, failed.version)
    assert (retried.error, retried.error_text, retried.steps.sync) == (None, None, StepOutcome.pending)
    assert (retried.steps.sync_note, retried.steps.sync_text) == ("", "")


async def test_step_notes_with_values_are_translated_with_them(world: World):
    submitted = await world.submitted(world.admin)
    await world.run(submitted, world.admin)
    done = await world.requests.get(submitted.request_id)
    steps = done.steps
    assert (steps.add_user_note, steps.sync_note) == ("adele@contoso.example added", "Teams users synced")
    assert steps.text_of("add_user") == Text("{teams_user} added", {"teams_user": "adele@contoso.example"})
    assert FRENCH_WORDS(steps.add_user_text) == "adele@contoso.example ajouté"
    assert FRENCH_WORDS(steps.sync_text) == "Utilisateurs Teams synchronisés"
    assert FRENCH_WORDS(steps.calling_text) == "Appels activés"


async def test_a_request_written_by_the_release_before_still_shows_its_english(world: World):
    """Plain English in the error, the notes, the decision's note and the audit trail: read back as
    it is, and shown as it is in either language (there is no template to translate)."""
    submitted = await world.submitted(world.admin)
    old_steps = {
        "add_user": "done",
        "add_user_note": "adele added",
        "sync": "failed",
        "sync_note": "Timed out",
    }
    change = (
        update(db.requests)
        .where(db.requests.c.request_id == submitted.request_id)
        .values(error="Timed out", steps=old_steps, decision_note="Stopped by Ada before calling was enabled")
    )
    old_audit = insert(db.audit).values(
        at=utcnow(),
        actor_tenant_id=CONTOSO,
        actor_id="someone",
        actor_name="Ada Admin",
        tenant_id=CONTOSO,
        request_id=submitted.request_id,
        action="approve",
        from_state="awaiting_approval",
        to_state="approved",
        outcome="approved by Ada Admin",
    )

    def work(conn: Any) -> None:
        conn.execute(change)
        conn.execute(old_audit)

    await world.database.write(work)

    old = await world.requests.get(submitted.request_id)
    assert (old.error, old.error_text) == ("Timed out", "Timed out")
    assert old.decision_note == old.decision_note_text == "Stopped by Ada before calling was enabled"
    assert (old.steps.sync_note, old.steps.sync_text, old.steps.text_of("sync")) == ("Timed out",) * 3
    assert old.steps.add_user_text == "adele added" and old.steps.calling_text == ""
    assert FRENCH_WORDS(old.error_text) == FRENCH_WORDS(old.steps.sync_text) == "Timed out"
    entry = (await world.audit(old))[-1]
    assert (entry.outcome, entry.outcome_text, entry.actor_name_text) == (
        "approved by Ada Admin",
        "approved by Ada Admin",
        "Ada Admin",
    )
    assert FRENCH_WORDS(entry.outcome_text) == "approved by Ada Admin"


def test_steps_made_with_plain_notes_have_them_as_texts():
    """As the cards' tests and the release before make them."""
    steps = Steps(sync=StepOutcome.failed, sync_note="Timed out")
    assert (steps.sync_text, steps.text_of("sync"), steps.text_of("calling")) == (
        "Timed out",
        "Timed out",
        "",
    )
    assert Steps.model_validate(steps.model_dump(mode="json")) == steps
    noted = steps.noted("calling", StepOutcome.done, Text("Calling enabled", {}))
    assert (noted.calling_note, noted.calling_text) == (
        "Calling enabled",
        {"i18n_template": "Calling enabled", "values": {}},
    )
    assert Steps.model_validate(noted.model_dump(mode="json")).text_of("calling") == Text(
        "Calling enabled", {}
    )


async def test_the_audit_trail_keeps_its_notes_and_the_bots_name_as_texts(world: World):
    waiting = await world.awaiting_approval()
    reason = "Wrong user: " + "x" * 600  # longer than the column, once encoded
    rejected = await world.requests.reject(world.admin, waiting.request_id, waiting.version, reason[:500])
    entries = await world.audit(rejected)
    added, decided = entries[-2], entries[-1]

    # The pipeline ran as the partner; the reject is the admin's, with their words as a value.
    assert decided.outcome_text == Text(
        "rejected by {name}: {reason}",
        {"name": world.admin.name, "reason": decided.outcome_text.values["reason"]},
    )
    assert decided.outcome.startswith(f"rejected by {world.admin.name}: Wrong user: xxx")
    assert decided.outcome.endswith("…"), "cut to fit the column, and still a text"
    assert FRENCH_WORDS(decided.outcome_text).startswith(f"refusée par {world.admin.name}\u00a0: Wrong user")
    assert FRENCH_WORDS(added.outcome_text) == "utilisateur ajouté"
    # The decision's note is the admin's reason, kept as they wrote it.
    assert rejected.decision_note == rejected.decision_note_text == reason[:500]


async def test_the_bot_is_named_in_the_readers_language_on_the_audit_trail(world: World):
    submitted = await world.submitted(world.admin)
    await world.run(submitted)  # resumed by the bot itself: no person acts
    bot_entries = [e for e in await world.audit(submitted) if e.actor_id == "system"]
    assert bot_entries and all(e.actor_name == "the bot" for e in bot_entries)
    assert {FRENCH_WORDS(e.actor_name_text) for e in bot_entries} == {"le bot"}


def test_a_text_too_long_for_its_column_is_cut_in_its_values_not_in_its_json():
    text = Text("rejected by {name}: {reason}", {"name": "Ada", "reason": 'a "quoted" reason ' * 60})
    kept = fitted(text, 500)
    assert len(kept) <= 500
    back = as_text(kept)
    assert isinstance(back, Text) and back.template == text.template
    assert back.values["name"] == "Ada" and back.values["reason"].endswith("…")
    assert fitted(Text("short {x}", {"x": "y"}), 500) == Text("short {x}", {"x": "y"}).encode()
    assert fitted("plain " * 200, 500) == ("plain " * 200)[:500]
    assert fitted(Text("{a}", {"a": 12345}), 5) == "12345", "no value to cut: its English, cut"


async def test_a_refused_add_is_stored_as_the_errors_text(world: World, monkeypatch):
    async def add_user(tenant_id: str, spec: Any, password: str) -> None:
        raise ProvisioningError(Text("{upn} is not a phone user.", {"upn": "adele@contoso.example"}))

    monkeypatch.setattr(world.provisioning, "add_user", add_user)
    submitted = await world.submitted(world.admin)
    assert await world.run(submitted, world.admin) == [RequestState.failed]
    failed = await world.requests.get(submitted.request_id)
    assert failed.error == failed.steps.add_user_note == "adele@contoso.example is not a phone user."
    assert FRENCH_WORDS(failed.error_text) == "adele@contoso.example n'est pas un utilisateur téléphonique."
    assert FRENCH_WORDS(failed.steps.add_user_text) == FRENCH_WORDS(failed.error_text)
