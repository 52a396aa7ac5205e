"""Create a heartbeat for a provisioning script: the ping path is the last line of stdout.

    python manage.py create_heartbeat nightly-backup --period 86400 --grace 3600
    python manage.py create_heartbeat nightly-backup --cron "0 3 * * *" --tz Europe/Paris \
        --grace 3600 --service Database --severity P1
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from incidents.models import Service, Severity
from probes.checkers import heartbeat as rules
from probes.models import Probe
from runbooks.models import Scenario


class Command(BaseCommand):
    help = "Create a heartbeat (dead man's switch) and print its ping path on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        when = parser.add_mutually_exclusive_group(required=True)
        when.add_argument("--period", type=int, help="seconds between pings")
        when.add_argument("--cron", help="cron expression of the expected pings ('0 3 * * *')")
        parser.add_argument("--tz", default="UTC", help="time zone of --cron (IANA name)")
        parser.add_argument("--grace", type=int, default=0, help="seconds of lateness allowed")
        parser.add_argument("--service", help="the service's name")
        parser.add_argument(
            "--severity", choices=Severity.values, default=Severity.P2, help="of its incidents"
        )
        parser.add_argument("--scenario", help="runbook scenario title attached to its incidents")

    def handle(self, *args, **options) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("Give the heartbeat a name.")
        if Probe.objects.filter(name=name).exists():
            raise CommandError(f"A probe named “{name}” already exists.")
        if options["period"] is not None:
            config = {"period": options["period"], "grace": options["grace"]}
        else:
            config = {"schedule": options["cron"], "tz": options["tz"], "grace": options["grace"]}
        try:
            config = rules.clean(config)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(
                    f"{k.removeprefix('config.')}: {' '.join(v)}"
                    for k, v in exc.message_dict.items()
                )
            ) from None
        service = None
        if options["service"]:
            service = Service.objects.filter(name=options["service"]).first()
            if service is None:
                raise CommandError(f"There is no service named “{options['service']}”.")
        scenario = None
        if options["scenario"]:
            scenario = (
                Scenario.objects.filter(title=options["scenario"]).order_by("-version_id").first()
            )
            if scenario is None:
                raise CommandError(f"There is no runbook scenario “{options['scenario']}”.")
        # While late, the sweep counts a missed check each minute (or each period if shorter).
        recheck = max(10, min(config.get("period") or 60, 60))
        probe = Probe(
            name=name,
            kind=Probe.Kind.HEARTBEAT,
            service=service,
            config=config,
            interval=timedelta(seconds=recheck),
            timeout=timedelta(seconds=1),
            failures_to_open=1,
            incident_severity=options["severity"],
            scenario=scenario,
        )
        probe.full_clean()
        with transaction.atomic():
            probe.save()
            # Before its first ping a heartbeat is "new": nothing is missed yet.
            Probe.objects.filter(pk=probe.pk).update(next_run_at=probe.next_run_at + probe.interval)
        self.stdout.write(f"Heartbeat {probe.name}: expected {rules.describe(config)}.")
        self.stdout.write(probe.ping_path)
