"""rampart_quality package."""
