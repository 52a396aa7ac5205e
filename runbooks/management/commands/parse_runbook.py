from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from runbooks.importer import RunbookImportError, decode
from runbooks.parser import parse_runbook


class Command(BaseCommand):
    help = "Print the parsed tree of a Markdown runbook as JSON (the format is in the README)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--compact", action="store_true", help="One line, no indentation.")

    def handle(self, *args, file: Path, compact: bool, **options) -> None:
        try:
            text = decode(file.read_bytes())
        except (OSError, RunbookImportError) as exc:
            raise CommandError(f"{file}: {exc}") from None
        tree, _ = parse_runbook(text, file.stem)
        indent = None if compact else 2
        self.stdout.write(json.dumps(tree, ensure_ascii=False, indent=indent))
