"""State in Redis: conversations, pending templates, content gaps, course choices."""
