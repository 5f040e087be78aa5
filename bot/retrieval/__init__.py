"""Retrieval: load and chunk course material, index it in Chroma, search it."""
