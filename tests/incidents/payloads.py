"""Webhook payloads for the intake tests and bench/ingest.py: plain data, no imports."""

# An Alertmanager v4 notification as its webhook receiver documents it.
ALERTMANAGER = {
    "receiver": "console",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "DatabaseConnectionExhaustion",
                "instance": "db-1:9187",
                "job": "postgres",
                "severity": "critical",
                "service": "PostgreSQL primary",
            },
            "annotations": {
                "summary": "Connections at 95% of max_connections",
                "description": "db-1 has 95 of 100 connections in use for 5 minutes.",
                "runbook_url": "https://runbooks.example.org/db#exhaustion",
            },
            "startsAt": "2026-11-23T10:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.org/graph?g0.expr=pg_connections",
            "fingerprint": "c0ffee0123456789",
        },
        {
            "status": "firing",
            "labels": {
                "alertname": "DatabaseConnectionExhaustion",
                "instance": "db-2:9187",
                "job": "postgres",
                "severity": "critical",
                "service": "PostgreSQL primary",
            },
            "annotations": {"summary": "Connections at 91% of max_connections"},
            "startsAt": "2026-11-23T10:01:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.org/graph?g0.expr=pg_connections",
            "fingerprint": "c0ffee9876543210",
        },
    ],
    "groupLabels": {"alertname": "DatabaseConnectionExhaustion"},
    "commonLabels": {
        "alertname": "DatabaseConnectionExhaustion",
        "job": "postgres",
        "severity": "critical",
        "service": "PostgreSQL primary",
    },
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example.org",
    "version": "4",
    "groupKey": '{}:{alertname="DatabaseConnectionExhaustion"}',
    "truncatedAlerts": 0,
}
