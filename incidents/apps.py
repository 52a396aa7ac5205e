from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        # After every migrate and every test flush, so the groups always exist.
        post_migrate.connect(sync_after_last_app, dispatch_uid="incidents.sync_role_groups")
        from incidents.statuspage import receivers as status_receivers

        status_receivers.connect()
        # Reviews open on resolution; their tasks must be known to the worker.
        # Escalation reacts to timeline events (declared, acknowledged, resolved…); its tasks
        # register with Celery on the same import.
        from incidents.escalation import receivers, tasks  # noqa: F401
        from incidents.reviews import receivers as review_receivers  # noqa: F401
        from incidents.reviews import tasks as review_tasks  # noqa: F401

        # Outgoing event webhooks: the outbox receivers and the sending tasks.
        from incidents.webhooks import outbox  # noqa: F401
        from incidents.webhooks import tasks as webhook_tasks  # noqa: F401

        # A flushed database (transactional tests) loses the data migration's default
        # policies; put them back, as the groups are. A no-op while any policy exists.
        post_migrate.connect(default_policies, dispatch_uid="incidents.default_policies")


def sync_after_last_app(sender, **kwargs) -> None:
    """post_migrate is sent once per app with models, in INSTALLED_APPS order; the groups'
    permissions belong to several apps (runbooks, probes…), so sync after the last one, when
    every permission exists."""
    from django.apps import apps

    from incidents.permissions import sync_role_groups

    with_models = [config for config in apps.get_app_configs() if config.models_module]
    if sender is with_models[-1]:
        sync_role_groups(**kwargs)


def default_policies(sender, using: str = "default", **kwargs) -> None:
    if sender.name != "incidents":
        return
    from incidents.escalation.defaults import install

    install()
