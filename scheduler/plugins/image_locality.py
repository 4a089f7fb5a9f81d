"""ImageLocality score: prefer nodes that already hold the pod's images, weighing each image's size
by how widely it is spread over the cluster (upstream's 23 MB .. 1000 MB-per-container scale)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..framework import (ALL_NODES_KEY, MAX_NODE_SCORE, SKIP, SUCCESS, CycleState, NodeInfo, Plugin, PodInfo,
                         Status)

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB  # below this the images' sizes make no difference
MAX_CONTAINER_THRESHOLD = 1000 * MB  # per container: above this a node is as good as it gets
PRE_SCORE_KEY = "PreScoreImageLocality"


def scaled_image_score(size: int, nodes_with_image: int, total_nodes: int) -> int:
    """An image on few nodes counts for little: guards against piling pods onto one node."""
    return int(size * (nodes_with_image / total_nodes))


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    sum_scores = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def score(pod: PodInfo, node: NodeInfo, image_nodes: Mapping[str, int], total_nodes: int) -> int:
    sizes = node.image_sizes
    total = sum(scaled_image_score(sizes[image], image_nodes[image], total_nodes)
                for image in pod.images if image in sizes)
    return calculate_priority(total, len(pod.images)) if pod.images else 0


class ImageLocality(Plugin):
    name = "ImageLocality"

    def __init__(self, args: Any = None) -> None:
        super().__init__(args)
        self._memo_key: tuple[int, ...] = ()
        self._image_nodes: dict[str, int] = {}  # image -> how many nodes hold it, for _memo_key's nodes

    def image_nodes(self, nodes: Sequence[NodeInfo], images: Sequence[str]) -> dict[str, int]:
        """Node counts per image (upstream's ImageStateSummary.NumNodes), cached until a node's image
        list changes (NodeInfo.image_epoch) or the node list does: not recounted for every pod."""
        key = (NodeInfo.image_epoch, len(nodes), id(nodes[0]), id(nodes[-1])) if nodes else ()
        if key != self._memo_key:
            self._memo_key, self._image_nodes = key, {}
        memo = self._image_nodes
        for image in images:
            if image not in memo:
                memo[image] = sum(1 for node in nodes if image in node.image_sizes)
        return {image: memo[image] for image in images}

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        all_nodes = state.get(ALL_NODES_KEY) or nodes
        image_nodes = self.image_nodes(all_nodes, pod.images)
        if not any(image_nodes.values()):
            return SKIP  # no node has any of the pod's images: every node would score 0
        state[PRE_SCORE_KEY] = (image_nodes, len(all_nodes))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        cached = state.get(PRE_SCORE_KEY)
        if cached is None:
            all_nodes = state.get(ALL_NODES_KEY) or [node]
            cached = (self.image_nodes(all_nodes, pod.images), len(all_nodes))
        return score(pod, node, *cached)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        cached = state.get(PRE_SCORE_KEY)
        if cached is None:
            return [self.score(state, pod, node) for node in nodes]
        image_nodes, total_nodes = cached
        # score() inlined: only images some node has can add, each with its spread computed once
        spreads = [(image, image_nodes[image] / total_nodes) for image in pod.images if image_nodes[image]]
        containers = len(pod.images)
        out: list[int] = []
        for node in nodes:
            sizes = node.image_sizes
            total = 0
            for image, spread in spreads:
                size = sizes.get(image)
                if size is not None:
                    total += int(size * spread)
            out.append(calculate_priority(total, containers) if total > MIN_THRESHOLD else 0)
        return out
