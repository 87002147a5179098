"""Fakes of the services incident-bot talks to: real HTTP servers on free loopback ports."""
