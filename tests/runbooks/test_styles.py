"""Runbook styles that are not in the corpus, read as a responder reads them: an SRE alert page,
a checklist-only incident doc, a FAQ-style troubleshooting page, an alert table."""

from __future__ import annotations

import pytest

from runbooks.parser import parse_runbook
from runbooks.steps import checklist_steps
from runbooks.units import sections


def read(text: str) -> list[dict]:
    tree, _ = parse_runbook(text, "style")
    return [s for s in [tree, *sections(tree)] if s["kind"] in ("scenario", "procedure")]


def step_texts(unit: dict) -> list[str]:
    return [s["text"] for s in checklist_steps(unit)]


SRE_ALERT = """# HighErrorRate

**Severity:** P1

## Summary

The checkout API returns more than 5% 5xx responses over 10 minutes.

## Impact

Customers cannot complete purchases.

## Triage

1. Open the checkout dashboard and confirm the error rate.
2. Check recent deploys: `kubectl rollout history deploy/checkout`
3. Look at the error logs: `kubectl logs deploy/checkout --since=15m`

## Remediation

- Roll back the last deploy: `kubectl rollout undo deploy/checkout`
- Scale up if the pods are saturated: `kubectl scale deploy/checkout --replicas=10`

## Escalation

- Payments team: #payments-oncall
"""


def test_an_sre_alert_page_is_one_scenario_over_triage_and_remediation():
    [unit] = read(SRE_ALERT)
    assert (unit["title"], unit["kind"], unit["severity"]) == ("HighErrorRate", "scenario", "P1")
    steps = checklist_steps(unit)
    assert [s["group"] for s in steps] == ["Triage"] * 3 + ["Remediation"] * 2
    assert steps[3]["text"] == "Roll back the last deploy: `kubectl rollout undo deploy/checkout`"
    # Summary and impact are context; the escalation contact is reference, never a step.
    assert not any("payments-oncall" in t or "Customers" in t for t in step_texts(unit))


CHECKLIST = """# Database outage checklist

- [ ] Declare an incident in #incidents
- [ ] Page the database on-call
- [ ] Check the primary: `pg_isready -h db-primary`
- [ ] Fail over to the replica: `patronictl failover --force`
- [ ] Post a status page update
- [ ] Verify writes succeed: `psql -c "select 1"`
"""


def test_a_checklist_only_doc_is_one_procedure_with_every_box_a_step():
    [unit] = read(CHECKLIST)
    assert (unit["title"], unit["kind"]) == ("Database outage checklist", "procedure")
    assert len(step_texts(unit)) == 6
    assert step_texts(unit)[3] == "Fail over to the replica: `patronictl failover --force`"


FAQ = """# Troubleshooting

### Problem: Login page returns 502

**Cause:** the auth service is down or restarting.

**Solution:**

1. Check the pods: `kubectl get pods -l app=auth`
2. Restart the deployment: `kubectl rollout restart deploy/auth`

### Problem: Emails are not delivered

**Cause:** the SMTP relay rejects our credentials.

**Solution:**

Rotate the SMTP password in the vault and run `./deploy.sh mailer`.

### Problème : Téléversements lents

**Solution :**

1. Vérifiez la région du bucket : `aws s3api get-bucket-location --bucket uploads`
"""


def test_a_faq_troubleshooting_doc_is_one_scenario_per_problem():
    units = read(FAQ)
    assert [(u["title"], u["kind"]) for u in units] == [
        ("Login page returns 502", "scenario"),
        ("Emails are not delivered", "scenario"),
        ("Téléversements lents", "scenario"),
    ]
    login, emails, uploads = units
    assert step_texts(login) == [
        "Check the pods: `kubectl get pods -l app=auth`",
        "Restart the deployment: `kubectl rollout restart deploy/auth`",
    ]
    # The cause is context, the prose that names a command is the one step.
    assert step_texts(emails) == [
        "Rotate the SMTP password in the vault and run `./deploy.sh mailer`."
    ]
    assert len(step_texts(uploads)) == 1
    # Anchors stay GitHub's, made from the heading as written.
    assert login["anchor"] == "problem-login-page-returns-502"


DEFINITIONS_ONLY = """# Queue glossary

## States

- **Pending**: waiting for a worker
- **Leased**: held by one worker until it acks
- **Dead**: failed three times, parked in the dead-letter queue

## Notes

The queue was introduced in 2021.
"""


def test_a_page_of_definitions_and_description_has_no_unit():
    assert read(DEFINITIONS_ONLY) == []


FAILOVER = """# Fail over the primary database

**Impact of a failover:**
- Writes pause for about 30 seconds
- Transactions in flight are rolled back

**Things to look at:**
- Replication lag on the replica
- Connection count on the proxy

**Steps:**

When the failover is done:
- Reads and writes go to the new primary

1. Promote the replica: `patronictl failover --candidate db-2`
2. Verify writes succeed: `psql -h db-2 -c "select 1"`
"""


def test_facts_under_a_label_are_context_and_things_to_look_at_are_steps():
    [unit] = read(FAILOVER)
    assert step_texts(unit) == [
        "Things to look at",
        "Replication lag on the replica",
        "Connection count on the proxy",
        "Promote the replica: `patronictl failover --candidate db-2`",
        'Verify writes succeed: `psql -h db-2 -c "select 1"`',
    ]


OUTAGE = """# Cache outage

## Invariants during the outage

- **Sessions**: kept in PostgreSQL, never lost
- **Rate limits**: per instance until the cache is back

## Remediation

1. Probe the cache: `redis-cli -u $REDIS_URL ping`
2. Restart the cache: `systemctl restart redis`
"""


def test_a_section_of_definitions_is_beside_the_checklist_not_in_it():
    with_indicators = OUTAGE + "\n## Health indicators\n\n- MTTA under 5 minutes\n"
    for text in (OUTAGE, with_indicators):
        [unit] = read(text)
        assert "MTTA under 5 minutes" not in step_texts(unit)
    [unit] = read(OUTAGE)
    assert step_texts(unit) == [
        "Probe the cache: `redis-cli -u $REDIS_URL ping`",
        "Restart the cache: `systemctl restart redis`",
    ]


ALERT_TABLE = """# Alert catalogue

| Alert | Severity | Runbook |
|---|---|---|
| DiskFull | critical | Delete old logs: `find /var/log -mtime +7 -delete` |
| CertExpiring | warning | Renew the certificate: `certbot renew` |
"""


def test_an_alert_table_with_links_only_is_reference():
    linked = ALERT_TABLE.replace(
        "Delete old logs: `find /var/log -mtime +7 -delete`", "[runbook](disk.md)"
    ).replace("Renew the certificate: `certbot renew`", "[runbook](cert.md)")
    assert read(linked) == []


@pytest.mark.xfail(strict=True, reason="table rows are not sections yet: no unit per alert row")
def test_an_alert_table_with_actions_gives_one_scenario_per_row():
    units = read(ALERT_TABLE)
    assert [(u["title"], u["severity"]) for u in units] == [
        ("DiskFull", "P0"),
        ("CertExpiring", "P2"),
    ]
    assert step_texts(units[1]) == ["Renew the certificate: `certbot renew`"]
