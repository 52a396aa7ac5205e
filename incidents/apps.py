from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        from incidents.permissions import sync_role_groups

        # After every migrate and every test flush, so the groups always exist.
        post_migrate.connect(sync_role_groups, sender=self)
