"""Alert rules and their delivery: signed webhooks, Slack incoming webhooks and email."""
