"""Tokens for the shared users, and a client that sends one."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from incidents.api.models import ApiToken


class ApiClient:
    """Django's test client with a bearer token and JSON bodies."""

    def __init__(self, secret: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path: str, headers: dict | None = None, **params):
        return self.client.get(path, params, headers={**self.headers, **(headers or {})})

    def post(self, path: str, body: dict | None = None, headers: dict | None = None):
        return self.client.post(
            path,
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers={**self.headers, **(headers or {})},
        )

    def send(self, method: str, path: str, body: dict | None = None):
        """PUT, PATCH or DELETE with a JSON body."""
        return self.client.generic(
            method,
            path,
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self.headers,
        )

    def request(self, method: str, path: str, body: dict | None = None):
        if method == "GET":
            return self.get(path)
        if method == "POST":
            return self.post(path, body)
        return self.send(method, path, body)


def api_client_for(user, read_only: bool = False) -> ApiClient:
    _, secret = ApiToken.issue(user, name="tests", read_only=read_only)
    return ApiClient(secret)


# The permission matrices: one client per role, and the answer each should get.
ROLES = ["anonymous", "outsider", "responder", "lead", "manager", "read_only"]


def role_clients(responder, lead, manager, outsider, read_only_of) -> dict[str, ApiClient]:
    return {
        "anonymous": ApiClient(None),
        "outsider": api_client_for(outsider),
        "responder": api_client_for(responder),
        "lead": api_client_for(lead),
        "manager": api_client_for(manager),
        "read_only": api_client_for(read_only_of, read_only=True),
    }


@pytest.fixture
def clients(responder, lead, manager, outsider) -> dict[str, ApiClient]:
    """Every role's client; `read_only` is a read-only token of the lead."""
    return role_clients(responder, lead, manager, outsider, read_only_of=lead)


def expected_status(method: str, role: str, by_role: dict) -> int:
    """A matrix row's answer for a role: by_role names outsider, responder and lead; a
    manager may do what a lead may, a read-only token (of the lead) only the lead's GETs."""
    if role == "anonymous":
        return 401
    if role == "manager":
        return by_role["lead"]
    if role == "read_only":
        return by_role["lead"] if method == "GET" else 403
    return by_role[role]


@pytest.fixture
def responder_api(responder) -> ApiClient:
    return api_client_for(responder)


@pytest.fixture
def lead_api(lead) -> ApiClient:
    return api_client_for(lead)


@pytest.fixture
def manager_api(manager) -> ApiClient:
    return api_client_for(manager)


@pytest.fixture
def outsider_api(outsider) -> ApiClient:
    return api_client_for(outsider)


@pytest.fixture
def anonymous_api(db) -> ApiClient:
    return ApiClient(None)
