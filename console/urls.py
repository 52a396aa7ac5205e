from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from console import login, views
from console.api import api
from incidents.intake import changes, opsgenie_api, pagerduty_api
from incidents.intake import views as intake_views
from incidents.statuspage import views_public as status_page
from probes import pings

handler403 = "console.views.permission_denied"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="incidents:list"), name="home"),
    path("login/", login.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    # Paging providers' callbacks (Twilio, ntfy, Slack): before the intake's catch-all.
    path("hooks/", include("incidents.escalation.channels.urls")),
    path("services/banner", views.services_banner, name="services_banner"),
    path("hooks/<slug:kind>/<str:token>/", intake_views.hook, name="hook"),
    # PagerDuty's Events API paths, for senders that page PagerDuty today.
    path("v2/enqueue", pagerduty_api.enqueue, name="pagerduty_enqueue"),
    path("v2/change/enqueue", changes.change_enqueue, name="pagerduty_change_enqueue"),
    path(
        "generic/2010-04-15/create_event.json",
        pagerduty_api.create_event_v1,
        name="pagerduty_create_event",
    ),
    # Opsgenie's Alert API paths.
    path("v2/alerts", opsgenie_api.alerts, name="opsgenie_alerts"),
    path("v2/alerts/<str:identifier>/close", opsgenie_api.close, name="opsgenie_close"),
    path(
        "v2/alerts/<str:identifier>/acknowledge",
        opsgenie_api.acknowledge,
        name="opsgenie_acknowledge",
    ),
    # Heartbeat pings (healthchecks.io's ping API); the uuid is the secret.
    path("ping/<uuid:key>", pings.ping, name="ping"),
    path("ping/<uuid:key>/", pings.ping),
    path("ping/<uuid:key>/<str:signal>", pings.ping, name="ping_signal"),
    # The public status page: no login.
    path("status/", status_page.status_page, name="status_page"),
    path("status.json", status_page.status_json, name="status_json"),
    path("status/incidents.json", status_page.incidents_json, name="status_incidents_json"),
    path("status/feed.atom", status_page.feed, name="status_feed"),
    path("incidents/", include("incidents.urls")),
    path("runbooks/", include("runbooks.urls")),
    path("probes/", include("probes.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
