"""The answers to Teams' typeahead (cards/typeahead.py): the dataset a choice set names says which
field is searched. The add-user form's Teams user, PBX location and voice route (the dataset carries
the request's id: only who may change it gets answers, from its tenant), and a partner's enterprises."""

from __future__ import annotations

from cards.add_user_form import LOCATION_DATASET, ROUTE_DATASET, USER_DATASET, user_choice_title
from cards.enterprise_picker import ENTERPRISE_DATASET
from i18n import ENGLISH_WORDS, Words
from services.models import Actor
from services.provisioning.protocol import ProvisioningService
from services.provisioning.search import Search, enterprises_matching
from services.requests import access
from services.requests.service import RequestService


class Typeahead:
    def __init__(self, requests: RequestService, provisioning: ProvisioningService) -> None:
        self._requests = requests
        self._provisioning = provisioning

    async def answer(
        self, actor: Actor, dataset: str, query: str, limit: int, words: Words = ENGLISH_WORDS
    ) -> list[tuple[str, str]]:
        """(title, value) of the choices matching `query`, at most `limit`; none for a dataset
        that is not ours. Raises the services' refusal for a request the actor may not see."""
        if dataset == ENTERPRISE_DATASET:
            return await self._enterprises(actor, query, limit)
        prefix, _, request_id = dataset.partition(":")
        if prefix not in (USER_DATASET, LOCATION_DATASET, ROUTE_DATASET) or not request_id:
            return []
        request = await self._requests.get_for(actor, request_id)
        if prefix == USER_DATASET:
            # Existing phone users come with their extension, as in the form's list.
            users = await self._provisioning.search_licensed_users(request.tenant_id, query, limit)
            return [(user_choice_title(u, words), u.upn) for u in users]
        options = await self._requests.form_options(request)
        names = (
            options.pbx_locations if prefix == LOCATION_DATASET else [r.name for r in options.voice_routes]
        )
        search = Search.of(query)
        return [(name, name) for name in names if search.name(name)][:limit]

    async def _enterprises(self, actor: Actor, query: str, limit: int) -> list[tuple[str, str]]:
        """A partner's own enterprises whose name `query` matches (add user, phone users, bulk
        add); anyone else is offered none; picking one is checked again on Next."""
        if not access.may_pick_enterprise(actor):
            return []
        enterprises = await self._provisioning.enterprises_of(actor.tenant_id)
        return [(t.name, t.tenant_id) for t in enterprises_matching(enterprises, query, limit)]
