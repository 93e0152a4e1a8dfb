"""The synthetic persona world: fictional people with known ground truth (the offline default)."""
