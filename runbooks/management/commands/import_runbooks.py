from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from runbooks.importer import RunbookImportError, import_runbook

SUFFIXES = {".md", ".markdown", ".txt"}


class Command(BaseCommand):
    help = "Import Markdown runbooks (files or folders). Unchanged text makes no new version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args, paths: list[Path], **options) -> None:
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(
                    sorted(
                        p
                        for p in path.rglob("*")
                        if p.is_file()
                        and p.suffix.lower() in SUFFIXES
                        and p.name.lower() != "readme.md"
                    )
                )
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{path} does not exist")
        failed = 0
        for file in files:
            try:
                result = import_runbook(file.read_bytes(), filename=file.name)
            except RunbookImportError as exc:
                failed += 1
                self.stderr.write(f"{file}: {exc}")
                continue
            version = result.version
            counts = version.scenarios.units().values_list("kind", flat=True)
            scenarios = sum(1 for k in counts if k == "scenario")
            procedures = sum(1 for k in counts if k == "procedure")
            state = "new version" if result.created else "unchanged"
            warnings = "; ".join(w["message"] for w in version.warnings)
            self.stdout.write(
                f"{file}: {version.runbook.slug} v{version.number} ({state}): "
                f"{scenarios} scenarios, {procedures} procedures"
                + (f" [{warnings}]" if warnings else "")
            )
        if failed:
            raise CommandError(f"{failed} file(s) could not be imported")
