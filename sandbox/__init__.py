"""Faithful local stand-ins for the Pipedrive and Autopilot APIs (ASGI apps)."""
