"""Follow-ups: the GitHub issues an incident leaves behind (its report's Action Items)."""
