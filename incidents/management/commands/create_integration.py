"""Create an integration for a provisioning script: the secret is the last line of stdout.

    python manage.py create_integration alertmanager "Prometheus prod" --service API --severity P1
    python manage.py create_integration pagerduty "Datadog" --severity P2

The secret is the URL token (/hooks/<kind>/<token>/), for `pagerduty` the 32-character routing
key, for `opsgenie` the API key (Authorization: GenieKey <key>). Only its SHA-256 is kept.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from incidents.intake.models import Integration, kind_choices
from incidents.models import Service, Severity

# Senders whose resolve means "resolved" (PagerDuty and Opsgenie resolve the incident).
AUTO_RESOLVE_KINDS = {"pagerduty", "opsgenie"}


class Command(BaseCommand):
    help = "Create an integration and print its secret (token or key) on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=[kind for kind, _ in kind_choices()])
        parser.add_argument("name")
        parser.add_argument("--service", help="default service, by name")
        parser.add_argument("--severity", choices=Severity.values, default=Severity.P2)
        parser.add_argument(
            "--auto-resolve",
            choices=["on", "off"],
            help="resolve the incident when all its alerts are (default: on for pagerduty and "
            "opsgenie, off otherwise)",
        )
        parser.add_argument(
            "--signing-secret-env", default="", help="stripe: the variable with whsec_…"
        )

    def handle(self, *args, **options) -> None:
        kind, name = options["kind"], options["name"].strip()
        if not name:
            raise CommandError("Give the integration a name.")
        if Integration.objects.filter(name=name).exists():
            raise CommandError(f"An integration named “{name}” already exists.")
        service = None
        if options["service"]:
            service = Service.objects.filter(name=options["service"]).first()
            if service is None:
                raise CommandError(f"There is no service named “{options['service']}”.")
        if kind == "stripe" and not options["signing_secret_env"]:
            raise CommandError("A stripe integration needs --signing-secret-env.")
        auto = options["auto_resolve"]
        integration = Integration(
            kind=kind,
            name=name,
            default_service=service,
            default_severity=options["severity"],
            auto_resolve=kind in AUTO_RESOLVE_KINDS if auto is None else auto == "on",
            signing_secret_env=options["signing_secret_env"],
        )
        token = integration.new_token()
        with transaction.atomic():
            integration.full_clean()
            integration.save()
        where = integration.hook_path(token) if not integration.secret_outside_url else None
        self.stdout.write(
            f"Integration {integration.name} ({integration.get_kind_display()}): "
            + (f"POST to {where}" if where else f"senders post to {integration.hook_path(token)}")
        )
        self.stdout.write(token)
