"""GitHub: the follow-up issues and report pull requests of incidents."""
