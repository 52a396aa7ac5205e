from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Runbook(models.Model):
    slug = models.SlugField(max_length=120, unique=True)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    current_version = models.ForeignKey(
        "RunbookVersion", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["title"]
        permissions = [("import_runbook", "Can import and upload runbooks")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("runbooks:detail", args=[self.slug])


class RunbookVersion(models.Model):
    """One imported text of a runbook. Its text never changes: a changed text is a new
    version, so a checklist attached to this version keeps the steps it was started with.
    `tree` is the reading of that text with the runbook's reading corrections applied
    (runbooks/corrections.py); a correction re-applies them to the current version only."""

    runbook = models.ForeignKey(Runbook, models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    source = models.TextField(help_text="The text as imported")
    repaired = models.TextField(help_text="The text after mojibake repair, as parsed")
    source_sha256 = models.CharField(max_length=64)
    tree = models.JSONField()
    warnings = models.JSONField(default=list, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbook_version_number"),
            models.UniqueConstraint(
                fields=["runbook", "source_sha256"], name="runbook_version_content"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.runbook} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("runbooks:version", args=[self.runbook.slug, self.number])


class ScenarioQuerySet(models.QuerySet):
    def units(self) -> ScenarioQuerySet:
        """The scenarios and procedures a version offers now: not the rows kept only for a
        checklist already attached (retired by a correction) and not attached sections."""
        return self.filter(
            retired_at__isnull=True, kind__in=[Scenario.Kind.SCENARIO, Scenario.Kind.PROCEDURE]
        )


class Scenario(models.Model):
    """Something a responder can attach to an incident: a scenario (symptoms, diagnosis,
    resolution) or a procedure (mostly ordered actions), as found in one runbook version.

    Two kinds of row are kept only for checklists: `section` rows, made when a responder
    attaches a section the reading did not make a unit, and retired rows, which a lead's
    correction replaced while a checklist was attached to them (a checklist keeps the
    title, kind and steps it was attached with)."""

    class Kind(models.TextChoices):
        SCENARIO = "scenario", "Scenario"
        PROCEDURE = "procedure", "Procedure"
        SECTION = "section", "Section"

    version = models.ForeignKey(RunbookVersion, models.CASCADE, related_name="scenarios")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=300)
    anchor = models.CharField(max_length=300)
    severity = models.CharField(max_length=2, blank=True)
    position = models.PositiveIntegerField()
    # Index path from the tree's root to this node: tree["children"][p0]["children"][p1]…
    path = models.JSONField()
    # Title, symptoms and step text in plain words, for search and suggestions.
    search_text = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = ScenarioQuerySet.as_manager()

    class Meta:
        ordering = ["version", "position"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"{self.version.get_absolute_url()}#{self.anchor}"

    @property
    def node(self) -> dict:
        node = self.version.tree
        for index in self.path:
            node = node["children"][index]
        return node


class RunbookSection(models.Model):
    """Every section of a runbook version, for responders searching what to follow (not only
    the units): written at import, kept in step with corrections on the current version."""

    version = models.ForeignKey(RunbookVersion, models.CASCADE, related_name="sections")
    # Index path in the tree (as Scenario.path) and the anchor path corrections are keyed by.
    path = models.JSONField()
    anchor_path = models.CharField(max_length=1000)
    anchor = models.CharField(max_length=300)
    title = models.CharField(max_length=300)
    # The titles of the sections above it, "Redis › Redis down".
    trail = models.CharField(max_length=1000, blank=True)
    kind = models.CharField(max_length=20, default="section")
    severity = models.CharField(max_length=2, blank=True)
    step_count = models.PositiveIntegerField(default=0)
    position = models.PositiveIntegerField()
    search_text = models.TextField(blank=True)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "anchor_path"], name="runbook_section_anchor_path"
            )
        ]

    def __str__(self) -> str:
        return self.title


class ReadingCorrection(models.Model):
    """A lead's correction of how a runbook is read, keyed by the section's anchor path
    (runbooks/corrections.py): re-applied to every later version of the runbook. Blank
    fields keep the reading; a correction with every field blank is an undone one, kept
    for its history."""

    class Kind(models.TextChoices):
        AS_READ = "", "As read"
        SCENARIO = "scenario", "Scenario"
        PROCEDURE = "procedure", "Procedure"
        SECTION = "section", "Not a unit"

    NO_SEVERITY = "-"

    runbook = models.ForeignKey(Runbook, models.CASCADE, related_name="corrections")
    anchor_path = models.CharField(max_length=1000)
    # The section's title when it was corrected, to name it when it is gone.
    section_title = models.CharField(max_length=300)
    # Whether no other section of the version it was corrected on ended with the same anchor:
    # only then may a later version's section with that anchor elsewhere be taken for it.
    anchor_was_unique = models.BooleanField(default=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, blank=True)
    title = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=2, blank=True, help_text='P0–P3, "-" for none')
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    corrected_at = models.DateTimeField(default=timezone.now)
    # Every change, oldest first: {at, by, version, changes: {field: [old, new]}}.
    history = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["runbook", "anchor_path"]
        constraints = [
            models.UniqueConstraint(
                fields=["runbook", "anchor_path"], name="reading_correction_anchor_path"
            )
        ]

    def __str__(self) -> str:
        return f"{self.runbook}: {self.anchor_path}"

    @property
    def is_empty(self) -> bool:
        return not (self.kind or self.title or self.severity)


class Proposal(models.Model):
    """An object the import suggests creating from the runbook; a person decides."""

    class Kind(models.TextChoices):
        ESCALATION_POLICY = "escalation_policy", "Escalation policy"
        COMMS_TEMPLATE = "comms_template", "Comms template"
        PROBE = "probe", "Probe"
        REVIEW_CHECKLIST = "review_checklist", "Review checklist"
        STEP_CHECKS = "step_checks", "Step checks"

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        DISMISSED = "dismissed", "Dismissed"

    version = models.ForeignKey(RunbookVersion, models.CASCADE, related_name="proposals")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=300, blank=True, help_text="Anchor of the section")
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["version", "kind", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class ChecklistRun(models.Model):
    """A scenario or procedure being followed in an incident, pinned to its runbook version."""

    incident = models.ForeignKey(
        "incidents.Incident", models.CASCADE, related_name="checklist_runs"
    )
    scenario = models.ForeignKey(Scenario, models.PROTECT, related_name="runs")
    attached_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.PROTECT, related_name="+")
    attached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["attached_at", "id"]

    def __str__(self) -> str:
        return f"{self.scenario} in incident {self.incident_id}"


class StepRun(models.Model):
    """One step of a checklist run, copied from the runbook version when the run started."""

    class State(models.TextChoices):
        PENDING = "pending", "To do"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(ChecklistRun, models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    depth = models.PositiveSmallIntegerField(default=0)
    # The section the step sits in ("Diagnosis", "Resolution › If Redis is down").
    group = models.CharField(max_length=500, blank=True)
    text = models.TextField(help_text="Inline Markdown as written in the runbook")
    code = models.JSONField(default=list, blank=True)
    # The check the step's code amounts to (probes.recognise), bound to a probe once a lead
    # accepts the runbook's step checks; empty when the code is nothing the console can run.
    check_key = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    skip_reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.PROTECT, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="step_run_position"),
            models.CheckConstraint(
                condition=~Q(state="skipped") | ~Q(skip_reason=""),
                name="skipped_step_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]
