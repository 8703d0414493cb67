"""The search's rule (services/provisioning/search.py), case by case."""

from __future__ import annotations

import pytest

from services.models import Tenant
from services.provisioning.search import Search, enterprises_matching

MARIE = ("Marie-Ève Bouchard-Tremblay", "marie-eve.bouchard@services-quebec.example", "2101")


@pytest.mark.parametrize(
    "query",
    [
        "marie",
        "MARIE-ÈVE",
        "eve",
        "Ève bou",
        "tremblay",
        "bouchard-t",
        "marie-eve.b",
        "21",
        "  marie-ève   bou ",
    ],
)
def test_a_person_is_found_by_the_start_of_a_name_word_address_or_extension(query: str):
    assert Search.of(query).person(*MARIE)


@pytest.mark.parametrize(
    "query",
    ["arie", "x", "services", "quebec.example", "@services-quebec", "example", "101", "bouchard.marie"],
)
def test_the_middle_of_a_word_and_the_domain_find_nobody(query: str):
    assert not Search.of(query).person(*MARIE)


def test_an_empty_search_finds_everyone():
    assert Search.of("").person("Ada", "ada@contoso.example") and Search.of(" ").everything


def test_enterprises_in_their_order_up_to_the_limit():
    names = ["Contoso", "Contoso Québec", "Fabrikam", "Northwind Constructions", "Tailspin"]
    tenants = [Tenant(tenant_id=str(i), name=n) for i, n in enumerate(names)]
    assert [t.name for t in enterprises_matching(tenants, "con", 10)] == [
        "Contoso",
        "Contoso Québec",
        "Northwind Constructions",
    ]
    assert [t.name for t in enterprises_matching(tenants, "quebec", 10)] == ["Contoso Québec"]
    assert len(enterprises_matching(tenants, "", 2)) == 2
    assert enterprises_matching(tenants, "o", 10) == []
