"""Adapters: translate platform messages to core Incoming and core Replies back."""
