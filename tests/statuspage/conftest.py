from __future__ import annotations

import pytest
from django.core.cache import cache

from incidents import actions
from incidents.models import Incident, Service


@pytest.fixture(autouse=True)
def fresh_cache():
    """The status page caches by a version token; each test starts with none."""
    from incidents.statuspage import public

    cache.clear()
    public._served.clear()
    yield
    cache.clear()
    public._served.clear()


@pytest.fixture
def public_service(db) -> Service:
    return Service.objects.create(
        name="payments-api", public=True, public_name="Payments", position=1
    )


@pytest.fixture
def comms_incident(responder, public_service) -> Incident:
    return actions.declare_incident(
        title="Stripe webhooks failing",
        severity="P1",
        declared_by=responder,
        services=[public_service],
        customer_impact="Card payments fail for about a third of checkouts",
    )
