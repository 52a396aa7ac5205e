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
    """One imported text of a runbook. Immutable: a changed text is a new version, so a
    checklist attached to this version keeps the steps it was started with."""

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


class Scenario(models.Model):
    """Something a responder can attach to an incident: a scenario (symptoms, diagnosis,
    resolution) or a procedure (mostly ordered actions), as found in one runbook version."""

    class Kind(models.TextChoices):
        SCENARIO = "scenario", "Scenario"
        PROCEDURE = "procedure", "Procedure"

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
