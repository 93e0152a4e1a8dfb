"""LLM backends (OpenAI-compatible, in-process transformers), the request cache and cost accounting."""
