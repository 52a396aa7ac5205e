from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def prune_form_tokens() -> int:
    from console.formtoken import prune

    return prune()
