"""TaintToleration: filter out nodes with a NoSchedule/NoExecute taint the pod does not tolerate;
score by the number of untolerated PreferNoSchedule taints, normalized reversed (fewer is better)."""
from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from ..framework import (SKIP, SUCCESS, CycleState, NodeInfo, Plugin, PodInfo, Status, Taint, Toleration,
                         default_normalize_score, tolerations_tolerate)

PRE_SCORE_KEY = "PreScoreTaintToleration"
_NO_SCHEDULE_TAINTS = attrgetter("no_schedule_taints")
_PREFER_NO_SCHEDULE_TAINTS = attrgetter("prefer_no_schedule_taints")


def untolerated_taint(pod: PodInfo, node: NodeInfo) -> Taint | None:
    """The first NoSchedule/NoExecute taint the pod does not tolerate; None when it fits."""
    for taint in node.no_schedule_taints:
        if not tolerations_tolerate(pod.tolerations, taint):
            return taint
    return None


def prefer_no_schedule_tolerations(pod: PodInfo) -> tuple[Toleration, ...]:
    return tuple(t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule"))


def score(tolerations: Sequence[Toleration], node: NodeInfo) -> int:
    """Raw score: how many PreferNoSchedule taints are not tolerated (normalized later)."""
    return sum(1 for taint in node.prefer_no_schedule_taints if not tolerations_tolerate(tolerations, taint))


class TaintToleration(Plugin):
    name = "TaintToleration"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.no_schedule_taints:
            return SUCCESS
        taint = untolerated_taint(pod, node)
        if taint is None:
            return SUCCESS
        return Status.unresolvable(f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}", plugin=self.name)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[Status]:
        if not any(map(_NO_SCHEDULE_TAINTS, nodes)):  # C-level scan
            return [SUCCESS] * len(nodes)
        return [self.filter(state, pod, node) for node in nodes]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        # With no PreferNoSchedule taint on any candidate every node would score 100 after the
        # reversed normalization: a constant that cannot change the choice, so skip the work.
        if not any(map(_PREFER_NO_SCHEDULE_TAINTS, nodes)):
            return SKIP
        state[PRE_SCORE_KEY] = prefer_no_schedule_tolerations(pod)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tolerations = state.get(PRE_SCORE_KEY)
        if tolerations is None:
            tolerations = prefer_no_schedule_tolerations(pod)
        return score(tolerations, node)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        tolerations = state.get(PRE_SCORE_KEY)
        if tolerations is None:
            tolerations = prefer_no_schedule_tolerations(pod)
        if not tolerations:  # nothing tolerated: the score is the number of PreferNoSchedule taints
            return [len(node.prefer_no_schedule_taints) for node in nodes]
        return [score(tolerations, node) if node.prefer_no_schedule_taints else 0 for node in nodes]

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        default_normalize_score(scores, reverse=True)
