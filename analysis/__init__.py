"""Stage 4: tables, plots and statistics from the dump."""
