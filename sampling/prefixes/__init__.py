"""Prefix families, retrieval, persona inference, the token budget and baking into DPO files."""
