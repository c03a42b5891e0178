"""The lineage service of Rampart."""
