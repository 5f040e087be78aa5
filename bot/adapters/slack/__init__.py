"""Slack adapter: bolt app, payload translation, Block Kit rendering, outbox."""
