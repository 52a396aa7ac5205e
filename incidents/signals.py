"""`event_recorded`: sent for every timeline event, inside the transaction that writes it.

Escalation, status updates and reviews react to what happens to an incident (declared,
acknowledged, severity changed, resolved) without the actions module knowing about them: a
receiver's writes commit or roll back with the change itself. A receiver that queues work
outside the database does it in `transaction.on_commit`.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent with sender=TimelineEvent, event=<the TimelineEvent just written>.
event_recorded = Signal()
