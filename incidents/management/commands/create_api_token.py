"""`manage.py create_api_token USERNAME [--read-only] [--name N] [--expires-days D]`: a new
personal API token for USERNAME, printed on the last line (the only time it is shown)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from incidents.api.models import ApiToken


class Command(BaseCommand):
    help = "Create a personal API token and print it (on the last line)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--read-only", action="store_true", help="GETs only")
        parser.add_argument("--name", default="command line", help="What will use the token")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Expire after D days (default never)"
        )

    def handle(self, *args, username: str, read_only: bool, name: str, expires_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"{username} is inactive; a token for them would not work.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        token, secret = ApiToken.issue(user, name=name, read_only=read_only, expires_at=expires_at)
        access = "read-only" if read_only else "read-write"
        self.stderr.write(
            f"Token {token.prefix}… ({access}) for {username}; it is not shown again:"
        )
        self.stdout.write(secret)
