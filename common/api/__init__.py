"""API object kinds: the registry every daemon and the apiserver derive from."""
from . import kinds
from .registry import REGISTRY, Registry, ResourceType

__all__ = ["REGISTRY", "Registry", "ResourceType", "kinds"]
