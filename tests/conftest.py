"""Shared users and helpers: a responder, a lead, a manager and an outsider with no group."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from incidents import actions
from incidents.intake.views import forget_integrations
from incidents.models import Incident, Service
from incidents.permissions import LEAD, MANAGER, RESPONDER, sync_role_groups
from incidents.templatetags.timeline_tags import rendered_events

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_process_memory():
    """Each test's database starts over and may reuse ids: no event markup and no intake
    budget seen by another test."""
    rendered_events.clear()
    forget_integrations()
    yield
    rendered_events.clear()
    forget_integrations()


def make_user(username: str, group: str | None) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def groups(db) -> None:
    # Transactional tests flush the database; post_migrate rebuilds the groups then, but a
    # plain call keeps this fixture independent of test ordering.
    sync_role_groups()


@pytest.fixture
def responder(groups) -> User:
    return make_user("rita", RESPONDER)


@pytest.fixture
def lead(groups) -> User:
    return make_user("leo", LEAD)


@pytest.fixture
def manager(groups) -> User:
    return make_user("mia", MANAGER)


@pytest.fixture
def outsider(groups) -> User:
    return make_user("otto", None)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def responder_client(responder) -> Client:
    return client_for(responder)


@pytest.fixture
def lead_client(lead) -> Client:
    return client_for(lead)


@pytest.fixture
def service(db) -> Service:
    return Service.objects.create(name="Payments", description="Stripe checkout", owner_team="Core")


@pytest.fixture
def incident(responder, service) -> Incident:
    incident = actions.declare_incident(
        title="Checkout returns 502", severity="P1", declared_by=responder, services=[service]
    )
    return incident


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def dead_broker():
    """The broker at a port nobody listens on, as when Redis is down. Tests using it run
    outside a transaction (transaction=True): inside one, a publish waits for the commit."""
    from django.core.cache import cache

    from console.celery import app
    from tests.probes.servers import free_port

    # The webhook intake remembers for a second that it queued work for an integration (ids
    # restart in a flushed database): forget, so this test's delivery meets the dead broker.
    cache.clear()
    old = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        from console.queue import breaker

        app.conf.broker_url = old
        app._pool = None
        app.amqp._producer_pool = None
        breaker.succeeded()  # the broker is back: publish at once, not after the breaker's pause
