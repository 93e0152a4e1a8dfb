"""Stage 1: everything that makes data."""
