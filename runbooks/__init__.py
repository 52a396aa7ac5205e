"""Runbook versions, the Markdown parser and checklists: issue #3."""
