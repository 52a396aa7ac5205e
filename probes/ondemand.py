"""Checks people ask for: "Run now" on a probe page, "Run check" on a checklist step.

`request_run` stores a CheckRequest, then hands it to a worker. When the broker can't take
the task the check runs right here in the request instead (marked `inline`, and the page says
so): a responder at 3 a.m. gets the answer either way. `complete_request` is what the worker
(or the inline path) does; it is idempotent, so a redelivered task changes nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from console.queue import enqueue
from incidents.actions import record
from incidents.models import TimelineEvent
from probes import engine
from probes.incidents import figures
from probes.models import CheckRequest, Probe, ProbeResult
from runbooks.checklists import step_excerpt


def request_run(probe: Probe, *, by: AbstractBaseUser, step=None) -> CheckRequest:
    from probes.tasks import run_check_request

    request = CheckRequest.objects.create(probe=probe, step=step, requested_by=by)
    if not enqueue(run_check_request, request.pk):
        request.inline = True
        request.save(update_fields=["inline"])
        complete_request(request.pk)
        request.refresh_from_db()
    return request


def complete_request(request_id: int) -> ProbeResult | None:
    request = (
        CheckRequest.objects.select_related("probe", "step__run__scenario")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        return None
    if request.result_id is not None:
        return request.result
    probe = request.probe
    result = engine.run_checker(probe, engine.previous_details(probe))
    source = ProbeResult.Source.INLINE if request.inline else ProbeResult.Source.MANUAL
    with transaction.atomic():
        locked = CheckRequest.objects.select_for_update().get(pk=request.pk)
        if locked.result_id is not None:  # another delivery of the same task got here first
            return locked.result
        stored = engine.record_result(probe, result, source)
        locked.result = stored
        locked.save(update_fields=["result"])
        step = request.step
        if step is not None:
            record(
                step.run.incident,
                TimelineEvent.Kind.PROBE_RESULT,
                request.requested_by,
                text=f"ran the check on '{step_excerpt(step)}': {stored.status.upper()} · "
                f"{stored.summary}",
                data={
                    **figures(stored),
                    "probe": probe.name,
                    "step": step_excerpt(step),
                    "scenario": step.run.scenario.title,
                    "run_id": step.run_id,
                    "step_id": step.pk,
                    "position": step.position,
                    "inline": request.inline,
                    "details": stored.details,
                },
            )
    return stored
