"""Load demo data: role groups, a team, the services of a small SaaS and a few incidents.

Safe to run again: users and services are matched by name, incidents by title. Incidents are
never changed once seeded, because their timeline is append-only and a second run must not
add events to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from incidents import actions
from incidents.models import Incident, Role, Service, Severity, Status
from incidents.permissions import LEAD, MANAGER, RESPONDER, sync_role_groups
from incidents.statuspage import proposals as comms_proposals
from incidents.statuspage.actions import publish_update
from incidents.statuspage.models import CommsTemplate
from probes.models import Probe
from runbooks.importer import import_runbook

DEFAULT_PASSWORD = "console-demo"


@dataclass(frozen=True)
class Person:
    username: str
    first_name: str
    last_name: str
    group: str


TEAM = [
    # The three accounts the README tells people to log in with.
    Person("responder", "Sam", "Rivera", RESPONDER),
    Person("lead", "Priya", "Natarajan", LEAD),
    Person("manager", "Dana", "Whitfield", MANAGER),
    # Teammates, so role assignments and handovers name more than the three logins.
    Person("tomasz", "Tomasz", "Kowalski", RESPONDER),
    Person("amara", "Amara", "Osei", RESPONDER),
    Person("lucia", "Lucía", "Fernández", LEAD),
]

SERVICES = [
    (
        "API gateway",
        "Platform",
        "nginx in front of the Django API: TLS termination, per-key rate limits, routing to "
        "the app pods. First place a 5xx or latency spike shows up.",
    ),
    (
        "Web app",
        "Frontend",
        "The customer dashboard: server-rendered pages plus static assets behind the CDN.",
    ),
    (
        "PostgreSQL primary",
        "Data platform",
        "PostgreSQL 15 primary with one streaming replica for reads and failover; clients "
        "connect through PgBouncer in transaction mode.",
    ),
    (
        "Redis cache",
        "Platform",
        "Sessions, rate-limit counters and the Celery broker. Holds no data of record, but "
        "flushing it logs everyone out and drops queued jobs.",
    ),
    (
        "Payments (Stripe)",
        "Billing",
        "Checkout, subscriptions and invoices through Stripe. The webhook receiver applies "
        "plan changes and marks invoices paid.",
    ),
    (
        "Background workers",
        "Platform",
        "Celery workers for email, outbound webhooks, invoice sync and the nightly exports.",
    ),
]


class Command(BaseCommand):
    help = "Load demo users, services and incidents. Running it again changes nothing."

    def handle(self, *args, **options) -> None:
        sync_role_groups()
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD

        users_created = 0
        people: dict[str, AbstractBaseUser] = {}
        for person in TEAM:
            user, created = ensure_user(person, password)
            users_created += created
            people[person.username] = user

        services_created = 0
        services: dict[str, Service] = {}
        for name, owner_team, description in SERVICES:
            service, created = Service.objects.get_or_create(
                name=name, defaults={"owner_team": owner_team, "description": description}
            )
            services_created += created
            services[name] = service

        ensure_public_components(services)
        for line in ensure_on_call(people):
            self.stdout.write(line)
        probes_created = ensure_probes(services)
        imported: list = []
        runbook_lines = import_demo_runbooks(created=imported)
        templates_created = accept_comms_templates(people["lead"], imported)

        now = timezone.now()
        incidents_created = []
        for title, write in INCIDENTS:
            if Incident.objects.filter(title=title).exists():
                continue
            # All or nothing: a half-written incident would be skipped forever by its title.
            with transaction.atomic():
                incident = write(title, people, services, now)
            incidents_created.append(incident)

        reviews_written = ensure_demo_reviews(people)

        self.stdout.write(
            f"Users: {users_created} created, {len(TEAM) - users_created} already present."
        )
        self.stdout.write(
            f"Services: {services_created} created, "
            f"{len(SERVICES) - services_created} already present."
        )
        self.stdout.write(
            f"Incidents: {len(incidents_created)} created, "
            f"{len(INCIDENTS) - len(incidents_created)} already present."
        )
        for incident in incidents_created:
            self.stdout.write(f"  {incident.reference} {incident.severity} {incident.status}")
        self.stdout.write(
            f"Probes: {len(probes_created)} created, "
            f"{len(demo_probes()) - len(probes_created)} already present."
        )
        for probe in probes_created:
            if not probe.enabled:
                self.stdout.write(
                    f"  {probe.name}: paused, ${probe_env(probe)} is not set in this environment"
                )
        self.stdout.write(f"Reviews: {reviews_written} written.")
        for line in runbook_lines:
            self.stdout.write(line)
        self.stdout.write(
            f"Comms templates: {templates_created} accepted from runbooks, "
            f"{CommsTemplate.objects.count()} in all. Public status page: /status/"
        )
        for line in ensure_demo_integration(services["API gateway"]):
            self.stdout.write(line)
        if users_created:
            # Never echo a password that came from the environment.
            shown = "$DEMO_PASSWORD" if os.environ.get("DEMO_PASSWORD") else DEFAULT_PASSWORD
            self.stdout.write(
                self.style.SUCCESS(f"Log in as responder, lead or manager, password {shown}.")
            )


# Services shown on the public status page (Comms → Status page components):
# (internal name, public name, public description, position).
PUBLIC_COMPONENTS = [
    ("Web app", "Dashboard", "Signing in and the dashboard", 1),
    ("API gateway", "Public API", "REST API and webhooks", 2),
    ("Payments (Stripe)", "Payments and billing", "Checkout, invoices and card payments", 3),
    ("Background workers", "Email and notifications", "", 4),
]


def ensure_public_components(services: dict[str, Service]) -> None:
    """Publish some services as status-page components, unless someone already decided."""
    for name, public_name, description, position in PUBLIC_COMPONENTS:
        Service.objects.filter(pk=services[name].pk, public=False, public_name="").update(
            public=True,
            public_name=public_name,
            public_description=description,
            position=position,
        )


def accept_comms_templates(by: AbstractBaseUser, versions: list) -> int:
    """Accept the comms-template proposals of the runbook versions this run imported (the
    demo's own); returns how many. Proposals of runbooks imported any other way, or left
    pending by a person, stay for a person to decide: proposals are never accepted silently."""
    from runbooks.models import Proposal

    pending = Proposal.objects.filter(
        kind=Proposal.Kind.COMMS_TEMPLATE,
        status=Proposal.Status.PROPOSED,
        version__in=[v.pk for v in versions],
    )
    accepted = 0
    for proposal in pending:
        if comms_proposals.acceptable(proposal):
            comms_proposals.accept(proposal, by=by)
            accepted += 1
    return accepted


DEMO_INTEGRATION = "Prometheus (demo)"


def demo_alert_group(now: datetime) -> dict:
    """An Alertmanager notification as Prometheus would send it: p95 latency on two pods."""
    alerts = []
    for pod, seconds in (("api-7d9f-1", 1.8), ("api-7d9f-2", 1.6)):
        alerts.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighLatencyP95",
                    "job": "api",
                    "pod": pod,
                    "service": "API gateway",
                    "severity": "warning",
                },
                "annotations": {
                    "summary": f"p95 latency {seconds} s on {pod}",
                    "description": "p95 above 1 s for 5 minutes.",
                },
                "startsAt": (now - timedelta(minutes=4)).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.internal/graph?g0.expr=p95",
                "fingerprint": f"demo-{pod}",
            }
        )
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighLatencyP95"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "console",
        "groupLabels": {"alertname": "HighLatencyP95"},
        "commonLabels": {"alertname": "HighLatencyP95", "job": "api", "service": "API gateway"},
        "commonAnnotations": {"description": "p95 above 1 s for 5 minutes."},
        "externalURL": "http://alertmanager.example.internal",
        "alerts": alerts,
    }


def ensure_demo_integration(service: Service) -> list[str]:
    """An Alertmanager integration and one delivery through it (processed here: no worker
    runs yet), so the demo shows an incident opened by alerts. Its token is printed once."""
    import json

    from incidents.intake.models import InboundEvent, Integration
    from incidents.intake.process import process_event

    if Integration.objects.filter(name=DEMO_INTEGRATION).exists():
        return [f"Integrations: {DEMO_INTEGRATION} already present (rotate its token to post)."]
    integration = Integration(
        kind=Integration.Kind.ALERTMANAGER, name=DEMO_INTEGRATION, default_service=service
    )
    token = integration.new_token()
    integration.save()
    event = InboundEvent.objects.create(
        integration=integration, body=json.dumps(demo_alert_group(timezone.now()))
    )
    outcome = process_event(event.pk)
    reference = outcome.incident.reference if outcome.incident else "no incident"
    return [
        f"Integrations: {DEMO_INTEGRATION} created; a demo alert group opened {reference}.",
        f"  Alertmanager webhook (shown once): {integration.hook_path(token)}",
    ]


# Slack member ids of the demo team (the format Slack shows under "Copy member ID").
SLACK_IDS = {
    "responder": "U05SAMRIV1",
    "lead": "U05PRIYAN2",
    "manager": "U05DANAWH3",
    "tomasz": "U05TOMASZ4",
    "amara": "U05AMARAO5",
    "lucia": "U05LUCIAF6",
}
ON_CALL_ORDER = ["responder", "tomasz", "amara", "lucia"]


def ensure_on_call(people: dict[str, AbstractBaseUser]) -> list[str]:
    """The escalation policies (the migration's defaults), the "Primary on-call" weekly
    rotation with four of the team, an override next week, and everyone's Slack id."""
    from incidents.escalation.defaults import PRIMARY_ROTATION
    from incidents.escalation.defaults import install as install_policies
    from incidents.escalation.models import (
        NotificationProfile,
        OnCallRotation,
        RotationMember,
        RotationOverride,
    )

    install_policies()
    for username, member_id in SLACK_IDS.items():
        NotificationProfile.objects.get_or_create(
            user=people[username], defaults={"slack_member_id": member_id}
        )
    rotation = OnCallRotation.objects.get(name=PRIMARY_ROTATION)
    if rotation.members.exists():
        return [f"On call: {PRIMARY_ROTATION} already staffed."]
    with transaction.atomic():
        today = timezone.localdate()
        rotation.starts_on = today - timedelta(days=today.weekday())  # this Monday
        rotation.save(update_fields=["starts_on"])
        RotationMember.objects.bulk_create(
            RotationMember(rotation=rotation, user=people[name], position=n)
            for n, name in enumerate(ON_CALL_ORDER)
        )
        start = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
        RotationOverride.objects.create(
            rotation=rotation,
            user=people["lucia"],
            starts_at=start + timedelta(days=7),
            ends_at=start + timedelta(days=8, hours=-9),
            reason="covers Tomasz's evening off",
            created_by=people["lead"],
        )
    return [f"On call: {PRIMARY_ROTATION} staffed ({', '.join(ON_CALL_ORDER)})."]


def ensure_user(person: Person, password: str) -> tuple[AbstractBaseUser, bool]:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=person.username,
        defaults={
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": f"{person.username}@example.com",
        },
    )
    if created:
        # Only on creation: a password someone changed after the first seed stays changed.
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=person.group))
    return user, created


def demo_probes() -> list[tuple[str, str, str | None, dict, dict]]:
    """(name, kind, service, config, other fields): the console watching what it runs on."""
    port = os.environ.get("PORT") or "8000"
    return [
        (
            "Console /healthz",
            Probe.Kind.HTTP,
            None,
            {
                "url": f"http://127.0.0.1:{port}/healthz",
                "expect": ['status == "ok"'],
                "latency_warn_ms": 300,
                "latency_crit_ms": 2000,
            },
            {"interval": timedelta(seconds=30)},
        ),
        (
            "PostgreSQL (DATABASE_URL)",
            Probe.Kind.POSTGRES,
            "PostgreSQL primary",
            {"dsn_env": "DATABASE_URL"},
            {"incident_severity": Severity.P1},
        ),
        ("Redis (REDIS_URL)", Probe.Kind.REDIS, "Redis cache", {"url_env": "REDIS_URL"}, {}),
        (
            "Celery worker",
            Probe.Kind.CELERY,
            "Background workers",
            {"queue": "celery", "min_workers": 1},
            {"interval": timedelta(seconds=30)},
        ),
    ]


def probe_env(probe: Probe) -> str:
    return next((v for k, v in probe.config.items() if k.endswith("_env")), "")


def ensure_probes(services: dict[str, Service]) -> list[Probe]:
    """The demo probes, matched by name; a probe whose secret's variable is not set here is
    created paused, so a laptop run on SQLite does not open incidents about a missing
    PostgreSQL."""
    created = []
    for name, kind, service, config, fields in demo_probes():
        if Probe.objects.filter(name=name).exists():
            continue
        probe = Probe(
            name=name,
            kind=kind,
            service=services.get(service) if service else None,
            config=config,
            **fields,
        )
        env = probe_env(probe)
        probe.enabled = not env or bool(os.environ.get(env))
        probe.full_clean()
        probe.save()
        created.append(probe)
    return created


def day_at(now: datetime, days_ago: int, hour: int, minute: int) -> datetime:
    """A wall-clock time some days back, so the history reads like a working day."""
    return (now - timedelta(days=days_ago)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )


Team = dict[str, AbstractBaseUser]
Services = dict[str, Service]


def stripe_webhooks(title: str, people: Team, services: Services, now: datetime) -> Incident:
    sam, priya, lucia = people["responder"], people["lead"], people["lucia"]
    amara, tomasz = people["amara"], people["tomasz"]
    t0 = day_at(now, 12, 9, 42)

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    incident = actions.declare_incident(
        title=title,
        severity=Severity.P1,
        declared_by=sam,
        summary=(
            "Every Stripe webhook delivery to /hooks/stripe/ has been rejected with 400 since "
            "about 08:55. Payments themselves go through on Stripe's side."
        ),
        customer_impact=(
            "Customers who upgrade or pay an invoice stay on their old plan; paid invoices show "
            "as overdue in the dashboard. No card data or payments lost."
        ),
        services=[services["Payments (Stripe)"], services["Background workers"]],
        at=t0,
    )
    actions.acknowledge(incident, by=sam, at=at(3))
    actions.assign_role(incident, role=Role.COMMANDER, user=priya, by=priya, at=at(5))
    actions.assign_role(incident, role=Role.INVESTIGATOR, user=sam, by=priya, at=at(5))
    actions.assign_role(incident, role=Role.COMMUNICATOR, user=amara, by=priya, at=at(6))
    payments = [services["Payments (Stripe)"]]
    actions.add_note(
        incident,
        by=sam,
        at=at(9),
        text=(
            "Handler logs: 'No signatures found matching the expected signature for payload' "
            "on every request. Stripe dashboard shows ~1,300 failed deliveries, all queued for "
            "retry. Nothing deployed to the webhook handler since Tuesday."
        ),
    )
    publish_update(
        incident,
        title="Plan changes and invoice payments not applied",
        status=Status.INVESTIGATING,
        body=(
            "Payments are going through, but upgrades and paid invoices are not showing in "
            "the dashboard yet. We are investigating."
        ),
        components=payments,
        by=amara,
        at=at(10),
    )
    actions.add_note(
        incident,
        by=priya,
        at=at(14),
        text=(
            "Stripe audit log: the endpoint's signing secret was rolled yesterday at 08:54 "
            "with a 24h grace period for the old one. Our secrets store still has the old "
            "whsec, so verification started failing exactly when the grace period ran out."
        ),
    )
    actions.change_status(
        incident,
        to=Status.IDENTIFIED,
        by=priya,
        at=at(16),
        note="Signing secret rolled in Stripe but never updated on our side.",
    )
    actions.add_note(
        incident,
        by=amara,
        at=at(19),
        text=(
            "Status page: 'Plan changes and payment confirmations are delayed. Payments are "
            "not affected and nothing needs to be retried by customers.'"
        ),
    )
    actions.add_note(
        incident,
        by=sam,
        at=at(27),
        text="New secret is in the vault; rolling the API pods so they pick it up.",
    )
    actions.change_status(
        incident,
        to=Status.MONITORING,
        by=sam,
        at=at(34),
        note="Webhooks verify again (200s since 10:14). Stripe is working through its retries.",
    )
    publish_update(
        incident,
        title="Plan changes and invoice payments not applied",
        status=Status.MONITORING,
        body=(
            "A fix is in place and the delayed upgrades and invoice payments are being "
            "applied now. No payments were lost. We are monitoring."
        ),
        components=payments,
        by=amara,
        at=at(38),
    )
    actions.add_note(
        incident,
        by=priya,
        at=at(48),
        text=(
            "Handing IC to Lucía, I have a customer call at 10:45. Left to do: watch the "
            "retry backlog drain and reconcile plans for invoices paid during the window."
        ),
    )
    actions.assign_role(incident, role=Role.COMMANDER, user=lucia, by=priya, at=at(49))
    actions.add_note(
        incident,
        by=tomasz,
        at=at(81),
        text=(
            "Backlog drained, zero failed deliveries in the last 30 min. Ran the plan "
            "reconciliation for invoices paid 08:55-10:14: 37 accounts corrected."
        ),
    )
    publish_update(
        incident,
        title="Plan changes and invoice payments not applied",
        status=Status.RESOLVED,
        body=(
            "All delayed upgrades and invoice payments have been applied and accounts "
            "are up to date. We are sorry for the confusion this caused."
        ),
        components=payments,
        by=amara,
        at=at(95),
    )
    actions.change_status(
        incident,
        to=Status.RESOLVED,
        by=lucia,
        at=at(96),
        note=(
            "Healthy for over an hour, reconciliation done. Follow-ups: alert on the webhook "
            "4xx rate, and make 'update the vault' the first step of rotating a secret."
        ),
    )
    return incident


def api_latency(title: str, people: Team, services: Services, now: datetime) -> Incident:
    sam, tomasz, lucia = people["responder"], people["tomasz"], people["lucia"]
    t0 = day_at(now, 4, 15, 18)

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    incident = actions.declare_incident(
        title=title,
        severity=Severity.P2,
        declared_by=tomasz,
        summary=(
            "API p95 went from ~180 ms to 1.2-1.5 s around 15:05; error rate normal so far. "
            "Primary CPU at 90%+."
        ),
        customer_impact="The dashboard and the public API are slow for everyone; no errors.",
        services=[services["API gateway"], services["PostgreSQL primary"]],
        at=t0,
    )
    actions.acknowledge(incident, by=tomasz, at=at(2))
    actions.assign_role(incident, role=Role.COMMANDER, user=lucia, by=lucia, at=at(6))
    actions.assign_role(incident, role=Role.INVESTIGATOR, user=tomasz, by=lucia, at=at(6))
    actions.assign_role(incident, role=Role.SCRIBE, user=sam, by=lucia, at=at(7))
    actions.add_note(
        incident,
        by=tomasz,
        at=at(11),
        text=(
            "pg_stat_statements: the new activity-feed query is top by total time, seq scan "
            "on audit_events (~40M rows), ~900 ms a call. Shipped at 14:58 behind the "
            "activity_feed flag, enabled for all accounts at 15:02."
        ),
    )
    actions.change_status(
        incident,
        to=Status.IDENTIFIED,
        by=lucia,
        at=at(13),
        note="Activity feed query without a usable index on audit_events.",
    )
    actions.add_note(
        incident,
        by=lucia,
        at=at(15),
        text="Turning activity_feed off for everyone; we can live without the feed for a day.",
    )
    actions.change_status(
        incident,
        to=Status.MONITORING,
        by=tomasz,
        at=at(21),
        note="Flag off at 15:36. p95 back to 190 ms within three minutes, primary CPU at 35%.",
    )
    actions.add_note(
        incident,
        by=tomasz,
        at=at(64),
        text=(
            "CREATE INDEX CONCURRENTLY on audit_events (account_id, created_at) finished in "
            "38 min. EXPLAIN now shows an index scan, 4 ms. Re-enabled the flag for our own "
            "account first: no change in p95."
        ),
    )
    actions.add_note(
        incident,
        by=sam,
        at=at(108),
        text="Flag back on for all accounts at 16:45; p95 has held at 185 ms since.",
    )
    actions.change_status(
        incident,
        to=Status.RESOLVED,
        by=lucia,
        at=at(115),
        note="Follow-up: run EXPLAIN on new queries against a production-sized copy in CI.",
    )
    return incident


def email_queue(title: str, people: Team, services: Services, now: datetime) -> Incident:
    sam, priya, amara = people["responder"], people["lead"], people["amara"]
    t0 = (now - timedelta(minutes=38)).replace(second=0, microsecond=0)

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    incident = actions.declare_incident(
        title=title,
        severity=Severity.P3,
        declared_by=amara,
        summary=(
            "The email queue in Redis is at 14k jobs and growing; workers are up but the "
            "send rate is about a third of normal."
        ),
        customer_impact="Digest and notification emails arrive 20-40 minutes late.",
        services=[services["Background workers"], services["Redis cache"]],
        at=t0,
    )
    actions.acknowledge(incident, by=sam, at=at(4))
    actions.assign_role(incident, role=Role.COMMANDER, user=priya, by=priya, at=at(7))
    actions.assign_role(incident, role=Role.INVESTIGATOR, user=sam, by=priya, at=at(7))
    actions.assign_role(incident, role=Role.COMMUNICATOR, user=amara, by=priya, at=at(8))
    email = [services["Background workers"]]
    publish_update(
        incident,
        title="Delayed email notifications",
        status=Status.INVESTIGATING,
        body="Some notification and digest emails are arriving late. We are looking into it.",
        components=email,
        by=amara,
        at=at(10),
    )
    actions.add_note(
        incident,
        by=sam,
        at=at(15),
        text=(
            "Workers spend most of each task waiting on the mail provider: SMTP connect takes "
            "8-10 s, it is usually 200 ms. Their status page says 'degraded performance'."
        ),
    )
    workaround = actions.add_note(
        incident,
        by=priya,
        at=at(24),
        text=(
            "Workaround while we wait on the provider: scaled email workers from 4 to 12 so "
            "more sends are in flight. Do not restart Redis, the queue lives there."
        ),
    )
    publish_update(
        incident,
        title="Delayed email notifications",
        status=Status.IDENTIFIED,
        body=(
            "Our email provider is sending slowly. We have added capacity on our side, so "
            "delayed emails are going out; invoices can be downloaded from Billing meanwhile."
        ),
        components=email,
        by=amara,
        at=at(27),
    )
    actions.add_note(
        incident,
        by=amara,
        at=at(33),
        text=(
            "Support has 11 tickets about missing invoice emails, so it is not only digests. "
            "Customers can download invoices from Billing in the meantime."
        ),
    )
    # change_severity and pin_note take no `at`, so they land now, after the notes above;
    # that is why the severity change lives on the open incident.
    actions.change_severity(
        incident,
        to=Severity.P2,
        by=priya,
        reason="Invoice emails are delayed too and customers are noticing.",
    )
    actions.pin_note(incident, event=workaround, by=priya)
    return incident


# In the order they are created, so references (INC-0001...) follow the dates.
INCIDENTS: list[tuple[str, Callable[[str, Team, Services, datetime], Incident]]] = [
    ("Stripe webhooks failing signature verification", stripe_webhooks),
    ("Elevated p95 latency on the API", api_latency),
    ("Email delivery delayed, queue backing up", email_queue),
]


def ensure_demo_reviews(people: Team) -> int:
    """The resolved demo incidents' reviews (opened when they resolved): the Stripe one
    published with action items, the latency one a draft. Only reviews nobody has touched."""
    from incidents.reviews import actions as review_actions
    from incidents.reviews.models import PostIncidentReview

    written = 0
    priya, dana, sam = people["lead"], people["manager"], people["responder"]
    untouched = PostIncidentReview.objects.filter(updated_by__isnull=True, state="draft")
    stripe = untouched.filter(incident__title=INCIDENTS[0][0]).first()
    if stripe is not None:
        with transaction.atomic():
            cause = stripe.incident.events.filter(text__startswith="Stripe audit log").first()
            review_actions.save_review(
                stripe,
                by=priya,
                fields={
                    "summary": (
                        "For 79 minutes every Stripe webhook was rejected because the endpoint's "
                        "signing secret had been rolled in Stripe but not in our secrets store."
                    ),
                    "users_affected": 37,
                    "customer_facing": True,
                    "root_cause": (
                        "The webhook signing secret was rolled in the Stripe dashboard with a "
                        "24-hour grace period. Nobody updated the secret we verify with, so "
                        "verification failed as soon as the grace period ended."
                    ),
                    "contributing_factors": (
                        "No alert on the rate of rejected webhooks; the roll was done by hand "
                        "outside the change calendar."
                    ),
                    "fixes_applied": (
                        "New secret stored in the vault, API pods rolled, Stripe retries "
                        "drained, plans reconciled for 37 accounts."
                    ),
                    "long_term_fixes": (
                        "Rotate webhook secrets through the deploy pipeline, accepting both "
                        "secrets during the grace period."
                    ),
                    "went_well": "Stripe's audit log pointed at the cause within 15 minutes.",
                    "could_improve": "We learned of the outage from a customer, not an alert.",
                },
                entries={cause.pk: (True, "The cause became clear here.")} if cause else None,
                ticked=set(stripe.checklist.values_list("pk", flat=True)[:4]),
            )
            review_actions.add_action_item(
                stripe,
                by=priya,
                title="Alert when more than 5% of webhooks are rejected",
                owner=sam,
                due_date=timezone.localdate() + timedelta(days=7),
            )
            review_actions.add_action_item(
                stripe,
                by=priya,
                title="Move webhook secret rotation into the deploy pipeline",
                owner=priya,
                due_date=timezone.localdate() - timedelta(days=2),
                link="https://tracker.example.org/PLAT-412",
            )
            review_actions.publish(stripe, by=dana)
        written += 1
    latency = untouched.filter(incident__title=INCIDENTS[1][0]).first()
    if latency is not None:
        with transaction.atomic():
            review_actions.save_review(
                latency,
                by=people["tomasz"],
                fields={
                    "root_cause": "A new report query scanned the orders table without an index.",
                    "fixes_applied": "Index added concurrently; the report moved to the replica.",
                },
            )
            review_actions.add_action_item(
                latency,
                by=people["tomasz"],
                title="Check query plans of new reports in CI",
                owner=people["tomasz"],
                due_date=timezone.localdate() + timedelta(days=14),
            )
        written += 1
    return written


def import_demo_runbooks(
    seeds: Path | None = None, samples: Path | None = None, created: list | None = None
) -> list[str]:
    """The team's runbooks from ../shared/seeds when that folder exists (a checkout next to
    it), else the short sample shipped with the console. Unchanged text adds no version.
    The versions this run created are appended to `created`."""
    seeds = seeds or settings.BASE_DIR.parent / "shared" / "seeds"
    samples = samples or settings.BASE_DIR / "runbooks" / "samples"
    files = sorted(seeds.glob("*.txt")) + sorted(seeds.glob("*.md")) if seeds.is_dir() else []
    files = [f for f in files if f.name.lower() != "readme.md"] or sorted(samples.glob("*.md"))
    lines = []
    for path in files:
        result = import_runbook(path.read_bytes(), filename=path.name)
        if result.created and created is not None:
            created.append(result.version)
        state = "imported" if result.created else "unchanged"
        lines.append(f"Runbook {result.version.runbook.title!r} v{result.version.number}: {state}")
    return lines
