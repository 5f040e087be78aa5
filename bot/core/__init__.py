"""Platform-free core: no Slack or Discord imports here."""
