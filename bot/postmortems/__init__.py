"""Postmortem drafts in the shape of published incident reports."""
