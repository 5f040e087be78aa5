"""Discord adapter: discord.py client, payload translation, embeds, REST outbox."""
