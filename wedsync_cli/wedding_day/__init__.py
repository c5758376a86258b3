"""The wedding-day protocol: when it is active and what it decides while it is."""
