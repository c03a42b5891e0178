"""Connectors to monitored warehouses behind one interface."""

from .base import ConnectionConfig, Connector, SourceSummary, TableInfo, open_connector

__all__ = ["ConnectionConfig", "Connector", "SourceSummary", "TableInfo", "open_connector"]
