"""The domain: clients (a couple or a single contact), weddings and their events."""
