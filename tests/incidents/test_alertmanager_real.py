"""The real Alertmanager (Debian's 0.25) against a live console, with the receivers teams
already have: webhook_configs, pagerduty_configs (Events API v2 with routing_key) and
opsgenie_configs, fired and resolved through Alertmanager's own API. Alertmanager 0.25 sends
v1 events (service_key) only to PagerDuty's own host whatever `url` says, so v1 is tested
with its recorded shape in test_pagerduty_intake."""

from __future__ import annotations

import pytest

from incidents.intake.models import Alert, InboundEvent, RoutingRule
from incidents.models import Incident
from tests.incidents.alertmanager_binary import alertmanager, notification_log, yaml_string
from tests.incidents.senders import celery_worker, create_integration
from tests.waiting import wait_for

CONFIG = """
route:
  receiver: webhook
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4h
  routes:
    - {{receiver: webhook, matchers: ['to="webhook"']}}
    - {{receiver: pagerduty, matchers: ['to="pagerduty"']}}
    - {{receiver: opsgenie, matchers: ['to="opsgenie"']}}
receivers:
  - name: webhook
    webhook_configs:
      - url: {webhook}
        send_resolved: true
  - name: pagerduty
    pagerduty_configs:
      - url: {pd_url}
        routing_key: {pd_key}
        send_resolved: true
        severity: critical
        component: postgres
        class: connections
  - name: opsgenie
    opsgenie_configs:
      - api_url: {og_url}
        api_key: {og_key}
        send_resolved: true
        priority: P2
        tags: database,prod
"""

NAMES = {
    "webhook": "HighErrorRate",
    "pagerduty": "DatabaseConnectionExhaustion",
    "opsgenie": "LowCacheHitRate",
}


@pytest.mark.django_db(transaction=True)
def test_alertmanager_fires_and_resolves_through_every_receiver(live_server, tmp_path):
    base = f"http://127.0.0.1:{live_server.thread.port}"
    # A transactional test starts from empty tables: the rule the defaults would hold.
    RoutingRule.objects.create(
        name="HighErrorRate is P1",
        conditions=[{"field": "labels.alertname", "op": "equals", "value": "HighErrorRate"}],
        severity="P1",
    )
    webhook, token = create_integration("alertmanager", "Alertmanager webhook")
    pagerduty, pd_key = create_integration("pagerduty", "Alertmanager PagerDuty")
    opsgenie, og_key = create_integration("opsgenie", "Alertmanager Opsgenie")
    config = CONFIG.format(
        webhook=yaml_string(base + webhook.hook_path(token)),
        pd_url=yaml_string(base + "/v2/enqueue"),
        pd_key=yaml_string(pd_key),
        og_url=yaml_string(base + "/"),
        og_key=yaml_string(og_key),
    )
    integrations = {
        "webhook": webhook, "pagerduty": pagerduty,
        "opsgenie": opsgenie,
    }  # fmt: skip
    with celery_worker(), alertmanager(config, tmp_path) as am:
        fired = {
            to: am.fire(
                {"alertname": name, "to": to, "instance": "db-1:9187", "severity": "warning"},
                {"summary": f"{name} on db-1", "description": "seen by the real Alertmanager"},
            )
            for to, name in NAMES.items()
        }

        def opened() -> bool:
            return all(
                Incident.objects.filter(alerts__integration=i).exists()
                for i in integrations.values()
            )

        assert wait_for(opened, 60), notification_log(tmp_path)[-4000:]
        incidents = {
            to: Incident.objects.filter(alerts__integration=i).distinct().get()
            for to, i in integrations.items()
        }
        # The webhook's alert is routed by its rule (HighErrorRate → P1).
        assert incidents["webhook"].severity == "P1"
        assert incidents["webhook"].title.startswith("HighErrorRate")
        # pagerduty_configs' severity: critical → P1 on a P2 integration.
        assert incidents["pagerduty"].severity == "P1"
        assert "DatabaseConnectionExhaustion" in incidents["pagerduty"].title
        pd_alert = Alert.objects.get(integration=pagerduty)
        assert pd_alert.labels["component"] == "postgres"
        assert pd_alert.labels["class"] == "connections"
        og_alert = Alert.objects.get(integration=opsgenie)
        assert incidents["opsgenie"].severity == "P1"  # Opsgenie P2 → P1
        assert og_alert.labels["tag:database"] == "true"
        assert "LowCacheHitRate" in incidents["opsgenie"].title

        for alert in fired.values():
            am.resolve(alert)

        def resolved() -> bool:
            return not Alert.objects.filter(status="firing").exists()

        assert wait_for(resolved, 60), notification_log(tmp_path)[-4000:]
        # PagerDuty and Opsgenie resolve their incident as those services do; the webhook
        # integration (auto-resolve off) notes that every alert is resolved.
        assert wait_for(lambda: Incident.objects.filter(status="resolved").count() == 2, 30), list(
            Incident.objects.values_list("title", "status")
        )
        webhook_incident = Incident.objects.get(pk=incidents["webhook"].pk)
        assert webhook_incident.is_open
        assert webhook_incident.events.filter(kind="alerts_resolved").exists()
    assert Incident.objects.count() == 3
    assert not InboundEvent.objects.exclude(state="processed").exists()
