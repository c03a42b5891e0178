"""Pure logic of the lineage service (no I/O)."""
