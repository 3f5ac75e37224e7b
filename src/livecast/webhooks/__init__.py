"""Outbound webhooks: registration, signing, the SSRF guard and the delivery worker."""
