"""The serving side: adapter subscriber, escalation router, break-even report."""
