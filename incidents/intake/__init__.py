"""Alert intake: webhooks from Alertmanager, generic JSON senders and Stripe, routed by rules
and deduplicated onto incidents. The models are part of the incidents app."""
