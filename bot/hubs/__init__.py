"""The hub registry: which hubs, clusters and communities exist, and how alerts map to them."""

from bot.hubs.registry import Registry, RegistryError, Route, label_value

__all__ = ["Registry", "RegistryError", "Route", "label_value"]
