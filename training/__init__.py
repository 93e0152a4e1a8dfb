"""Stage 2: train small models on prefixed preference data."""
