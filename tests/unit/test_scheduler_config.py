"""KubeSchedulerConfiguration loading: upstream defaults, plugin enable/disable/weights, pluginConfig
args, and one-line errors naming the offending field."""
from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from scheduler.config import (LeaderElection, SchedulerConfig, default_config, load_config, parse_config,
                              parse_duration)
from scheduler.framework import Framework, NodeInfo, PodInfo
from scheduler.plugins import NodeResourcesFitArgs, ResourceSpec, ScoringStrategy

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
DEFAULT_FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit"]
DEFAULT_WEIGHTS = {"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                   "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}


def load(tmp_path: Path, body: str) -> SchedulerConfig:
    path = tmp_path / "scheduler.yaml"
    path.write_text(HEADER + textwrap.dedent(body))
    return load_config(path)


def load_error(tmp_path: Path, body: str) -> str:
    with pytest.raises(ValueError) as info:
        load(tmp_path, body)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- defaults

def test_default_config_is_upstreams() -> None:
    config = default_config()
    assert config.percentage_of_nodes_to_score is None
    assert config.leader_election == LeaderElection(True, 15.0, 10.0, 2.0, "leases", "kube-scheduler", "kube-system")
    assert (config.parallelism, config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds) == (16, 1, 10)
    [profile] = config.profiles
    assert profile.scheduler_name == "default-scheduler"
    assert profile.filter == DEFAULT_FILTERS
    assert profile.pre_filter == ["NodeName", "NodeAffinity", "NodePorts", "NodeResourcesFit"]
    assert profile.score == DEFAULT_WEIGHTS
    assert list(profile.score) == list(DEFAULT_WEIGHTS)  # multiPoint order
    assert profile.plugin_args == {}


def test_minimal_file_equals_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "") == default_config()


def test_top_level_fields(tmp_path: Path) -> None:
    config = load(tmp_path, """
        percentageOfNodesToScore: 30
        podInitialBackoffSeconds: 2
        podMaxBackoffSeconds: 20
        parallelism: 4
        clientConnection: {kubeconfig: /etc/kubelab/scheduler.conf, qps: 100, burst: 200}
        leaderElection:
          leaderElect: true
          leaseDuration: 1m
          renewDeadline: 45s
          retryPeriod: 500ms
          resourceName: my-scheduler
          resourceNamespace: kubelab-system
        healthzBindAddress: 0.0.0.0:10259
        """)
    assert config.percentage_of_nodes_to_score == 30
    assert config.profiles[0].percentage_of_nodes_to_score == 30  # inherited by the profile
    assert (config.pod_initial_backoff_seconds, config.pod_max_backoff_seconds, config.parallelism) == (2, 20, 4)
    assert config.client_connection.kubeconfig == "/etc/kubelab/scheduler.conf"
    assert (config.client_connection.qps, config.client_connection.burst) == (100.0, 200)
    assert config.leader_election == LeaderElection(True, 60.0, 45.0, 0.5, "leases", "my-scheduler", "kubelab-system")
    election = config.leader_election
    assert (election.lease_duration_s, election.renew_deadline_s, election.retry_period_s) == (60.0, 45.0, 0.5)


def test_leader_election_disabled_skips_its_validation(tmp_path: Path) -> None:
    config = load(tmp_path, "leaderElection: {leaderElect: false, leaseDuration: 1s, renewDeadline: 5s}\n")
    assert not config.leader_election.leader_elect


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5s", 1.5), ("0", 0.0), ("250us", 0.00025),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "x") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["15", "s", "1x", "", "1m 30s", 15])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="^x: Invalid value"):
        parse_duration(text, "x")


# ---------------------------------------------------------------- profiles and plugins

def test_profiles_override_percentage_and_need_names(tmp_path: Path) -> None:
    config = load(tmp_path, """
        percentageOfNodesToScore: 20
        profiles:
        - schedulerName: default-scheduler
        - schedulerName: batch
          percentageOfNodesToScore: 80
        """)
    assert [p.scheduler_name for p in config.profiles] == ["default-scheduler", "batch"]
    assert [p.percentage_of_nodes_to_score for p in config.profiles] == [20, 80]
    assert config.profile("batch") is config.profiles[1] and config.profile("nope") is None


def test_disable_a_score_plugin_and_reweight_another(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - plugins:
            score:
              disabled: [{name: ImageLocality}]
              enabled: [{name: NodeResourcesBalancedAllocation, weight: 5}]
        """).profiles[0]
    # a point's own entry overrides the multiPoint one and goes first (upstream's expansion order)
    assert profile.score == {"NodeResourcesBalancedAllocation": 5, "TaintToleration": 3, "NodeAffinity": 2,
                             "NodeResourcesFit": 1}
    assert next(iter(profile.score)) == "NodeResourcesBalancedAllocation"
    assert profile.filter == DEFAULT_FILTERS
    assert "ImageLocality" in profile.pre_score  # as upstream: disabling score leaves preScore alone


def test_star_disables_all_defaults_of_a_point(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - plugins:
            score:
              disabled: [{name: "*"}]
              enabled: [{name: NodeResourcesFit, weight: 2}, {name: ImageLocality}]
        """).profiles[0]
    assert profile.score == {"NodeResourcesFit": 2, "ImageLocality": 1}
    assert profile.filter == DEFAULT_FILTERS  # other points keep their defaults


def test_multi_point_star_then_specific_plugins(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - plugins:
            multiPoint:
              disabled: [{name: "*"}]
              enabled: [{name: NodeResourcesFit, weight: 4}, {name: TaintToleration}]
        """).profiles[0]
    assert profile.filter == ["NodeResourcesFit", "TaintToleration"]
    assert profile.pre_filter == ["NodeResourcesFit"]
    assert profile.score == {"NodeResourcesFit": 4, "TaintToleration": 1}


def test_multi_point_reenabled_default_keeps_its_place_and_takes_the_weight(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - plugins:
            multiPoint:
              enabled: [{name: TaintToleration, weight: 10}]
        """).profiles[0]
    assert profile.filter == DEFAULT_FILTERS
    assert profile.score == {**DEFAULT_WEIGHTS, "TaintToleration": 10}


def test_disable_a_filter_point_only(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - plugins:
            filter: {disabled: [{name: NodePorts}, {name: TaintToleration}]}
        """).profiles[0]
    assert profile.filter == ["NodeUnschedulable", "NodeName", "NodeAffinity", "NodeResourcesFit"]
    assert "TaintToleration" in profile.score  # still scores


def test_upstream_plugins_kubelab_lacks_are_accepted(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - plugins:
            multiPoint:
              enabled: [{name: PodTopologySpread, weight: 2}, {name: VolumeBinding}]
            queueSort: {enabled: [{name: PrioritySort}]}
            bind: {enabled: [{name: DefaultBinder}]}
          pluginConfig:
          - name: DefaultPreemption
            args: {minCandidateNodesPercentage: 10, minCandidateNodesAbsolute: 100}
          - name: InterPodAffinity
            args: {hardPodAffinityWeight: 1}
        """).profiles[0]
    assert profile.score == DEFAULT_WEIGHTS and profile.plugin_args == {}


# ---------------------------------------------------------------- pluginConfig

def test_most_allocated_with_weighted_resources(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - pluginConfig:
          - name: NodeResourcesFit
            args:
              apiVersion: kubescheduler.config.k8s.io/v1
              kind: NodeResourcesFitArgs
              scoringStrategy:
                type: MostAllocated
                resources: [{name: cpu, weight: 3}, {name: memory}, {name: example.com/gpu, weight: 5}]
              ignoredResources: [example.com/fpga]
        """).profiles[0]
    assert profile.plugin_args["NodeResourcesFit"] == NodeResourcesFitArgs(
        ScoringStrategy("MostAllocated", (ResourceSpec("cpu", 3), ResourceSpec("memory", 1),
                                          ResourceSpec("example.com/gpu", 5))),
        ignored_resources=frozenset({"example.com/fpga"}))


def test_loaded_strategy_reaches_the_plugin(tmp_path: Path) -> None:
    config = load(tmp_path, """
        profiles:
        - pluginConfig:
          - name: NodeResourcesFit
            args: {scoringStrategy: {type: MostAllocated}}
        """)
    nodes = [NodeInfo.from_node({"metadata": {"name": name}, "status": {"allocatable": {
        "cpu": "4", "memory": "8Gi", "pods": "110"}}}) for name in ("empty", "used")]
    nodes[1].add_pod(PodInfo.of({"metadata": {"name": "x"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}]}}))
    new = PodInfo.of({"metadata": {"name": "new"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}})
    framework = Framework(config.profiles[0], rng=random.Random(0))
    assert framework.plugins["NodeResourcesFit"].strategy == "MostAllocated"
    assert framework.schedule(new, nodes).node == "used"


def test_empty_resources_fall_back_to_cpu_and_memory(tmp_path: Path) -> None:
    profile = load(tmp_path, """
        profiles:
        - pluginConfig:
          - {name: NodeResourcesFit, args: {scoringStrategy: {type: LeastAllocated, resources: []}}}
          - {name: NodeResourcesBalancedAllocation, args: {resources: [{name: cpu}, {name: memory, weight: 1}]}}
        """).profiles[0]
    assert profile.plugin_args["NodeResourcesFit"].scoring_strategy.resources == (ResourceSpec("cpu", 1),
                                                                                  ResourceSpec("memory", 1))
    assert [r.name for r in profile.plugin_args["NodeResourcesBalancedAllocation"].resources] == ["cpu", "memory"]


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize(("body", "expected"), [
    ("profiles: [{plugins: {score: {enabled: [{name: NodeResourceFit}]}}}]",
     'profiles[0].plugins.score.enabled[0].name: Invalid value: "NodeResourceFit": unknown plugin'),
    ("profiles: [{plugins: {multiPoint: {enabled: [{name: Foo}]}}}]",
     'profiles[0].plugins.multiPoint.enabled[0].name: Invalid value: "Foo": unknown plugin'),
    ("profiles: [{pluginConfig: [{name: Foo, args: {}}]}]",
     'profiles[0].pluginConfig[0].name: Invalid value: "Foo": unknown plugin'),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: Fastest}}}]}]",
     ('profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Fastest": '
     'supported values: "LeastAllocated", "MostAllocated"')),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {resources: []}}}]}]",
     'profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: ""'),
    (("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: "
     "{type: MostAllocated, resources: [{name: cpu, weight: 101}]}}}]}]"),
     ("profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: Invalid value: 101: "
     "resource weight of cpu not in valid range (0, 100]")),
    (("profiles: [{pluginConfig: [{name: NodeResourcesBalancedAllocation, args: {resources: "
     "[{name: cpu, weight: 2}]}}]}]"),
     "profiles[0].pluginConfig[0].args.resources[0].weight: Invalid value: 2: must be 1"),
    (("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: LeastAllocated}, "
     "colour: red}}]}]"),
     "profiles[0].pluginConfig[0].args.colour: unknown field"),
    ("profiles: [{pluginConfig: [{name: NodeAffinity, args: {addedAffinity: {}}}]}]",
     "profiles[0].pluginConfig[0].args.addedAffinity: unknown field"),
    ("profiles: [{pluginConfig: [{name: NodePorts}, {name: NodePorts}]}]",
     'profiles[0].pluginConfig[1]: Duplicate value: "NodePorts"'),
    ("profiles: [{plugins: {score: {enabled: [{name: ImageLocality, weight: -1}]}}}]",
     "profiles[0].plugins.score.enabled[0].weight: Invalid value: -1: must be a non-negative integer"),
    ("profiles: [{plugins: {score: {enabled: [{name: ImageLocality, weight: high}]}}}]",
     'profiles[0].plugins.score.enabled[0].weight: Invalid value: "high": must be a non-negative integer'),
    ("profiles: [{plugins: {filter: {enabled: [{name: ImageLocality}]}}}]",
     ('profiles[0].plugins.filter.enabled[0].name: Invalid value: "ImageLocality": plugin does not extend '
     'FilterPlugin')),
    ("profiles: [{plugins: {filter: {enabled: [{name: NodePorts}, {name: NodePorts}]}}}]",
     ("profiles[0].plugins.filter.enabled[1].name: Invalid value: \"NodePorts\": plugin already registered as "
     "'FilterPlugin'")),
    ("profiles: [{plugins: {sort: {}}}]", "profiles[0].plugins.sort: unknown field"),
    ("profiles: [{plugins: {score: {enabled: [{}]}}}]", "profiles[0].plugins.score.enabled[0].name: Required value"),
    ("profiles: [{schedulerName: a}, {}]", "profiles[1].schedulerName: Required value"),
    ("profiles: [{schedulerName: a}, {schedulerName: a}]", 'profiles[1].schedulerName: Duplicate value: "a"'),
    ("percentageOfNodesToScore: 101", "percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]"),
    ("profiles: [{percentageOfNodesToScore: -1}]",
     "profiles[0].percentageOfNodesToScore: Invalid value: -1: not in valid range [0-100]"),
    ("leaderElection: {leaseDuration: 10s, renewDeadline: 10s}",
     "leaderElection.leaseDuration: Invalid value: 10.0: LeaseDuration must be greater than RenewDeadline"),
    ("leaderElection: {retryPeriod: soon}", 'leaderElection.retryPeriod: Invalid value: "soon"'),
    ("leaderElection: {resourceLock: endpoints}",
     'leaderElection.resourceLock: Invalid value: "endpoints": resourceLock value must be "leases"'),
    ("leaderElection: {leaderElect: yes please}", 'leaderElection.leaderElect: Invalid value: "yes please"'),
    ("podMaxBackoffSeconds: 0", ("podMaxBackoffSeconds: Invalid value: 0: must be greater than or equal to "
                                "PodInitialBackoffSeconds")),
    ("schedulerName: x", "schedulerName: unknown field"),
    ("extenders: [{urlPrefix: 'http://x'}]", "extenders: Forbidden"),
])
def test_errors_name_the_field(tmp_path: Path, body: str, expected: str) -> None:
    message = load_error(tmp_path, body + "\n")
    assert message.startswith(str(tmp_path / "scheduler.yaml") + ": ")
    assert expected in message


def test_wrong_api_version_and_kind() -> None:
    with pytest.raises(ValueError, match='^apiVersion: Unsupported value: "kubescheduler.config.k8s.io/v1beta3"'):
        parse_config({"apiVersion": "kubescheduler.config.k8s.io/v1beta3", "kind": "KubeSchedulerConfiguration"})
    with pytest.raises(ValueError, match='^kind: Unsupported value: "KubeletConfiguration"'):
        parse_config({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeletConfiguration"})


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("profiles: [\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: not valid YAML at line"):
        load_config(path)
    with pytest.raises(ValueError, match="must be an object"):
        parse_config("- a list\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing.yaml: No such file"):
        load_config(tmp_path / "missing.yaml")
