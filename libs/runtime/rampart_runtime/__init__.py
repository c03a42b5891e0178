"""Plumbing shared by every Rampart service: logging, database, bus, outbox, health."""
