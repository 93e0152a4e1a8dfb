"""The LLM generation pipeline: personas, questions, candidates, filtering, the persona judge, the split; hub import."""
