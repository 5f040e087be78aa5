"""Scheduled work: daily quiz pushes, exactly once per channel per local day."""
