"""wedsync: the integration hub for wedding vendors (CRM imports, calendar sync, email, webhooks)."""

__version__ = "0.1.0"
