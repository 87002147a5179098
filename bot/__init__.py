"""incident-bot: incident response for teams that run many JupyterHubs."""

__version__ = "0.1.0"
