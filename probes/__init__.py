"""Probe definitions, checkers, results and their tasks: issue #4."""
