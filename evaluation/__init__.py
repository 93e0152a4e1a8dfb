"""Stage 3: score models as implicit reward models on held-out preference pairs."""
