"""Measurements, provider health, status screens, alerts."""
