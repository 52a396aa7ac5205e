"""python manage.py set_contact USERNAME [--email E] [--sms +N] [--voice +N] [--ntfy-topic T]
[--slack U…] [--verified] [--rules 'push:0,sms:1,voice:5'] [--low-rules 'email:0']"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from incidents.escalation import provisioning
from incidents.escalation.contacts import ContactMethod


class Command(BaseCommand):
    help = "Set a person's contact methods and notification rules (for provisioning scripts)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email")
        parser.add_argument("--sms", help="E.164 number, such as +14155550100")
        parser.add_argument("--voice", help="E.164 number")
        parser.add_argument("--ntfy-topic", dest="push")
        parser.add_argument("--slack", help="Slack member id, such as U024BE7LH")
        parser.add_argument(
            "--verified",
            action="store_true",
            help="Mark the methods given as verified (the operator vouches for them)",
        )
        parser.add_argument("--rules", help="High urgency (P0/P1): 'push:0,sms:1,voice:5'")
        parser.add_argument("--low-rules", help="Low urgency (P2/P3): 'email:0'")

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {options['username']!r}.") from exc
        given = [
            (kind, options[kind])
            for kind in ("email", "sms", "voice", "push", "slack")
            if options[kind] is not None
        ]
        try:
            with transaction.atomic():
                for kind, address in given:
                    method = provisioning.set_method(
                        user, kind, address, verified=options["verified"]
                    )
                    state = "verified" if method.verified else "not verified"
                    self.stdout.write(f"{method.get_kind_display()}: {method.address} ({state})")
                for option, urgency in (("rules", "high"), ("low_rules", "low")):
                    if options[option] is not None:
                        steps = provisioning.parse_rules(options[option])
                        provisioning.replace_rules(user, urgency, steps)
                        self.stdout.write(f"{urgency} urgency rules: {options[option]}")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        unverified = ContactMethod.objects.filter(user=user, verified_at__isnull=True).count()
        if unverified:
            self.stdout.write(
                f"{unverified} method(s) not verified: they are not paged until verified "
                "(on the profile page, or again with --verified)."
            )
