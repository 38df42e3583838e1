"""`manage.py create_token USERNAME [--name N] [--scope S ...]`: a personal API token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.identity import tokens


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="what the token is for (default cli)")
        parser.add_argument(
            "--scope",
            action="append",
            choices=tokens.SCOPES,
            dest="scopes",
            help="what it may do; repeat for several (default: chat)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"no user {options['username']!r}") from None
        try:
            token, raw = tokens.create_token(
                user, name=options["name"], scopes=options["scopes"] or ["chat"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Token {token.name!r} for {user} with scopes {token.scopes}; it is shown only now:"
        )
        self.stdout.write(raw)
