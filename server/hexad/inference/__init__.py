"""Inference: model backends (llama.cpp in process, OpenAI-compatible HTTP) and routing."""
