"""In-tree scheduler plugins, one per module, registered under their upstream names: the registry
maps a name to the plugin class, which is its own factory (`cls(args)`)."""
from __future__ import annotations

from .balanced_allocation import NodeResourcesBalancedAllocation, NodeResourcesBalancedAllocationArgs
from .image_locality import ImageLocality
from .node_affinity import NodeAffinity
from .node_name import NodeName
from .node_ports import NodePorts
from .node_resources_fit import NodeResourcesFit, NodeResourcesFitArgs, ResourceSpec, ScoringStrategy
from .node_unschedulable import NodeUnschedulable
from .taint_toleration import TaintToleration

REGISTRY: dict[str, type] = {cls.name: cls for cls in (
    NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
    NodeResourcesBalancedAllocation, ImageLocality)}

# Upstream's default profile (its multiPoint order decides the filter order), with score weights;
# weight None: not a score plugin.
DEFAULT_PLUGINS: tuple[tuple[str, int | None], ...] = (
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", None),
    ("NodeResourcesFit", 1),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
)

__all__ = ["DEFAULT_PLUGINS", "REGISTRY", "ImageLocality", "NodeAffinity", "NodeName", "NodePorts",
           "NodeResourcesBalancedAllocation", "NodeResourcesBalancedAllocationArgs", "NodeResourcesFit",
           "NodeResourcesFitArgs", "NodeUnschedulable", "ResourceSpec", "ScoringStrategy", "TaintToleration"]
