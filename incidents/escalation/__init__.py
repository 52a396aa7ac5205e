"""Escalation: policies per severity, on-call rotations, the paging engine, notifications."""
