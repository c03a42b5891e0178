"""Pure logic of the quality service (no I/O)."""
