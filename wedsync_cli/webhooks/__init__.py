"""Webhooks: signed outbound delivery (Standard Webhooks) on the shared outbox, the SSRF guard,
the inbound receiver (`wedsync webhooks serve`) and replay of deliveries and inbound events."""
