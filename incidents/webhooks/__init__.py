"""Outgoing event webhooks: leads subscribe URLs to incident events; each event becomes one
signed delivery per subscribed endpoint, written in the change's own transaction (an
outbox) and sent by a worker in order, with retries and backoff."""
