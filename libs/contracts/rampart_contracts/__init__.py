"""Shared contracts of Rampart: messages, subjects, streams, errors and settings groups."""
