"""The REST API at /api/v1/: django-ninja, personal tokens, problem details.

Each app owns its routers (incidents/api/, runbooks/api.py, probes/api.py); this module
mounts them once and holds what is the same for all of them: bearer-token authentication
(read-only tokens can't write), the per-token rate limit, ETags on GETs and the translation
of every refusal (PermissionDenied, Http404, ActionError, invalid input) into an RFC 9457
problem document carrying the message the pages show.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseNotModified
from django.utils.cache import patch_cache_control
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.types import DictStrAny

from console.api_kit import ProblemError, problem_response
from incidents.actions import ActionError
from incidents.api.models import ApiToken, hash_token

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def over_rate(token: ApiToken) -> int:
    """Seconds until the next minute when this request is over the token's budget, else 0."""
    from incidents.intake.views import count_in_window

    now = time.time()
    window = int(now // 60)
    count = count_in_window(f"api-rate:{token.token_hash[:20]}:{window}", 90)
    if count is not None and count > settings.API_RATE_LIMIT_PER_MINUTE:
        return max(1, int(60 - now % 60))
    return 0


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`: the token's user, with that user's permissions."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = (
            ApiToken.objects.usable()
            .select_related("user")
            .filter(token_hash=hash_token(token.strip()))
            .first()
        )
        if found is None or not found.user.is_active:
            return None
        retry_after = over_rate(found)
        if retry_after:
            raise ProblemError(
                429,
                f"Rate limit of {settings.API_RATE_LIMIT_PER_MINUTE} requests a minute "
                f"reached for this token; retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )
        found.touch()
        request.user = found.user
        request.api_token = found
        if found.read_only and request.method not in SAFE_METHODS:
            raise ProblemError(403, "This token is read-only; it can't make changes.")
        return found


def refuse_unstorable(value: Any, where: str = "") -> None:
    """A 422 for text no database column can hold: NUL (PostgreSQL refuses it) or a lone
    surrogate (not encodable as UTF-8), in any key or value; the pages' forms refuse NUL the
    same way (Django's ProhibitNullCharactersValidator)."""
    if isinstance(value, str):
        bad = "\x00" in value
        if not bad:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad = True
        if bad:
            field = where or "__all__"
            message = "must not contain NUL characters or unpaired surrogates"
            raise ProblemError(
                422, f"{field}: {message}.", errors=[{"field": field, "message": message}]
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            refuse_unstorable(key, inner)
            refuse_unstorable(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_unstorable(item, f"{where}.{index}" if where else str(index))


class ConsoleParser(Parser):
    """JSON bodies and query strings, refused with a 422 where they hold unstorable text."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        data = super().parse_body(request)
        refuse_unstorable(data)
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> DictStrAny:
        result = super().parse_querydict(data, list_fields, request)
        refuse_unstorable(result)
        return result


class ConsoleAPI(NinjaAPI):
    def create_response(self, request, data, *, status=None, temporal_response=None):
        response = super().create_response(
            request, data, status=status, temporal_response=temporal_response
        )
        if request.method == "GET" and response.status_code == 200:
            # A handler that knows its version cheaply (the timeline: its newest event id)
            # set request.api_etag and already answered a match; others hash the body.
            etag = getattr(request, "api_etag", None) or (
                '"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
            )
            response["ETag"] = etag
            patch_cache_control(response, private=True, no_cache=True)
            matches = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
            if etag in matches or "*" in matches:
                not_modified = HttpResponseNotModified()
                not_modified["ETag"] = etag
                patch_cache_control(not_modified, private=True, no_cache=True)
                return not_modified
        return response

    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        # Errors are problem documents: say so in their media type.
        for operations in schema["paths"].values():
            for operation in operations.values():
                for code, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if int(code) >= 400 and "application/json" in content:
                        answer["content"] = {
                            "application/problem+json": content.pop("application/json")
                        }
        return schema


api = ConsoleAPI(
    title="Incident console API",
    version="1",
    description=(
        "Personal tokens (Profile → API tokens, or `manage.py create_api_token`) act with "
        "their owner's permissions. Errors are RFC 9457 problem documents."
    ),
    auth=TokenAuth(),
    parser=ConsoleParser(),
    urls_namespace="api",
    docs=Swagger(settings={"persistAuthorization": False}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(ProblemError)
def _problem(request, exc: ProblemError):
    return problem_response(request, exc.status, exc.detail, errors=exc.errors, headers=exc.headers)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return problem_response(
        request,
        401,
        "A valid API token is required: send `Authorization: Bearer <token>`.",
        headers={"WWW-Authenticate": 'Bearer realm="console"'},
    )


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return problem_response(request, 403, str(exc) or "Your role does not allow this.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem_response(request, 404, str(exc) or "Not found.")


@api.exception_handler(ActionError)
def _conflict(request, exc):
    return problem_response(request, 409, str(exc))


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc: NinjaValidationError):
    errors = []
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        errors.append({"field": ".".join(location) or "__all__", "message": error.get("msg", "")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid request."
    return problem_response(request, 422, detail, errors=errors)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    # Ninja answers any parser error with its own 400 "Cannot parse request body"; a
    # ConsoleParser refusal is its cause and says which field and why.
    if isinstance(exc.__cause__, ProblemError):
        return _problem(request, exc.__cause__)
    return problem_response(request, exc.status_code, str(exc))


def _mount() -> None:
    import runbooks.api_upload  # noqa: F401  (its operations join the runbooks router)
    from incidents.api.comms import oncall_router
    from incidents.api.comms import router as comms_router
    from incidents.api.escalation import policies_router, rotations_router, services_router
    from incidents.api.incidents import router as incidents_router
    from incidents.api.integrations import router as integrations_router
    from incidents.api.metrics import router as metrics_router
    from incidents.api.reviews import router as reviews_router
    from incidents.api.rules import router as rules_router
    from incidents.api.timeline import router as timeline_router
    from incidents.api.webhooks import router as webhooks_router
    from probes.api import router as probes_router
    from runbooks.api import checklists_router
    from runbooks.api import router as runbooks_router

    api.add_router("/incidents", incidents_router)
    api.add_router("/incidents", timeline_router)
    api.add_router("/incidents", comms_router)
    api.add_router("/incidents", reviews_router)
    api.add_router("/incidents", checklists_router)
    api.add_router("/oncall", oncall_router)
    api.add_router("/oncall", rotations_router)
    api.add_router("/escalation", policies_router)
    api.add_router("/services", services_router)
    api.add_router("/integrations", integrations_router)
    api.add_router("/routing-rules", rules_router)
    api.add_router("/metrics", metrics_router)
    api.add_router("/webhooks", webhooks_router)
    api.add_router("/probes", probes_router)
    api.add_router("/runbooks", runbooks_router)


_mount()
