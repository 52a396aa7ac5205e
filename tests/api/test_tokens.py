"""Personal API tokens: hashed, shown once, read-only or read-write, expiry, last use,
revocation; the profile page section and the create_api_token command."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from incidents.api.models import ApiToken, hash_token
from tests.api.conftest import ApiClient, api_client_for
from tests.conftest import client_for


def test_only_the_hash_is_stored(responder):
    token, secret = ApiToken.issue(responder, name="ci")
    assert secret.startswith("ic_") and len(secret) > 40
    token.refresh_from_db()
    assert token.token_hash == hash_token(secret)
    assert secret not in {getattr(token, f.attname) for f in ApiToken._meta.fields}
    assert token.prefix == secret[:9]


def test_no_token_gets_a_401_problem(anonymous_api):
    response = anonymous_api.get("/api/v1/incidents")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["instance"] == "/api/v1/incidents"
    assert "Bearer" in body["detail"]


def test_a_wrong_token_is_a_401(db):
    assert ApiClient("ic_not-a-token").get("/api/v1/incidents").status_code == 401


def test_revoked_and_expired_tokens_stop_working(responder):
    token, secret = ApiToken.issue(responder, name="ci")
    client = ApiClient(secret)
    assert client.get("/api/v1/incidents").status_code == 200
    assert token.revoke() is True
    assert token.revoke() is False
    assert client.get("/api/v1/incidents").status_code == 401

    expiring, secret = ApiToken.issue(
        responder, name="short", expires_at=timezone.now() + timedelta(days=1)
    )
    assert ApiClient(secret).get("/api/v1/incidents").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert ApiClient(secret).get("/api/v1/incidents").status_code == 401
        assert expiring.state == "expired"


def test_an_inactive_users_token_is_a_401(responder):
    client = api_client_for(responder)
    responder.is_active = False
    responder.save()
    assert client.get("/api/v1/incidents").status_code == 401


def test_last_use_is_recorded_once_a_minute(responder):
    token, secret = ApiToken.issue(responder, name="ci")
    assert token.last_used_at is None
    ApiClient(secret).get("/api/v1/incidents")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    ApiClient(secret).get("/api/v1/incidents")
    token.refresh_from_db()
    assert token.last_used_at == first
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        ApiClient(secret).get("/api/v1/incidents")
    token.refresh_from_db()
    assert token.last_used_at > first


def test_a_read_only_token_reads_but_cant_write(responder, incident):
    client = api_client_for(responder, read_only=True)
    assert client.get(f"/api/v1/incidents/{incident.pk}").status_code == 200
    response = client.post(f"/api/v1/incidents/{incident.pk}/notes", {"text": "hello"})
    assert response.status_code == 403
    assert response.json()["detail"] == "This token is read-only; it can't make changes."
    assert not incident.events.filter(kind="note_added").exists()


def test_command_prints_the_token_on_its_last_line(lead):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "leo", "--read-only", "--name", "ci", stdout=out, stderr=err)
    secret = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get(token_hash=hash_token(secret))
    assert token.user == lead and token.read_only and token.name == "ci"
    assert token.expires_at is None
    assert ApiClient(secret).get("/api/v1/incidents").status_code == 200


def test_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "nobody", stdout=io.StringIO())


def test_profile_creates_shows_once_and_revokes(responder):
    client = client_for(responder)
    page = client.get("/incidents/profile/")
    assert page.status_code == 200
    assert b'id="api-tokens"' in page.content

    response = client.post(
        "/incidents/profile/api-tokens/",
        {"name": "deploy bot", "access": "read_only", "expires": "30"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=responder)
    secret = response.context["secret"]
    assert secret.encode() in response.content
    assert token.read_only and token.name == "deploy bot"
    assert token.expires_at.date() == (timezone.now() + timedelta(days=30)).date()

    listing = client.get("/incidents/profile/")
    assert b"deploy bot" in listing.content and secret.encode() not in listing.content

    response = client.post(f"/incidents/profile/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_profile_form_errors_keep_the_typed_fields(responder):
    client = client_for(responder)
    response = client.post(
        "/incidents/profile/api-tokens/", {"name": "", "access": "read_write", "expires": "7"}
    )
    assert response.status_code == 422
    assert b"Name the token after what will use it." in response.content
    assert not ApiToken.objects.exists()


def test_nobody_revokes_someone_elses_token(responder, lead):
    token, _ = ApiToken.issue(responder, name="mine")
    response = client_for(lead).post(f"/incidents/profile/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_pages_refuse_get_and_outsiders(responder, outsider):
    assert client_for(responder).get("/incidents/profile/api-tokens/").status_code == 405
    response = client_for(outsider).post(
        "/incidents/profile/api-tokens/", {"name": "x", "access": "read_write", "expires": "30"}
    )
    assert response.status_code == 403
