"""The profile page's API tokens section: create (the secret is shown once) and revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from incidents.api.forms import ApiTokenForm
from incidents.api.models import ApiToken
from incidents.permissions import require_perm


def tokens_context(user, form: ApiTokenForm | None = None) -> dict:
    return {
        "api_tokens": list(ApiToken.objects.filter(user=user)),
        "token_form": form or ApiTokenForm(),
    }


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "incidents/api_token_new.html",
            {**tokens_context(request.user, form), "nav": "profile"},
            status=422,
        )
    token, secret = ApiToken.issue(
        request.user,
        name=form.cleaned_data["name"],
        read_only=form.cleaned_data["access"] == "read_only",
        expires_at=form.expires_at(),
    )
    response = render(
        request,
        "incidents/api_token_created.html",
        {
            "token": token,
            "secret": secret,
            "nav": "profile",
            "api_base": request.build_absolute_uri("/api/v1/"),
        },
    )
    # The secret is on this page only: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "incidents.view_incident")
    # Only your own tokens: someone else's is a 404, not a hint that it exists.
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoke():
        messages.success(request, f"Token “{token.name}” revoked; it stops working now.")
    else:
        messages.error(request, f"Token “{token.name}” was already revoked.")
    return redirect("incidents:profile")
