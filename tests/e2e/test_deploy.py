"""The deployment files in deploy/: the KubeSchedulerConfiguration and the manifests agree
with each other, and the configuration they ship runs the real server, whose extender answers
every verb the scheduler configuration wires, under the URL prefix it names."""

from pathlib import Path
from urllib.parse import urlparse

import requests
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"one {kind} {name}, found {len(matches)}"
    return matches[0]


def scheduler_configuration() -> dict:
    return yaml.safe_load((DEPLOY / "kube-scheduler" / "config.yaml").read_text())


def test_the_manifests_and_the_scheduler_configuration_agree():
    config = scheduler_configuration()
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert config["kind"] == "KubeSchedulerConfiguration"
    scheduler_docs = documents(DEPLOY / "kubernetes" / "scheduler.yaml")
    embedded = yaml.safe_load(find(scheduler_docs, "ConfigMap", "ironspider-scheduler")["data"]["config.yaml"])
    assert embedded == config, "deploy/kube-scheduler/config.yaml and the ConfigMap differ"

    [extender] = config["extenders"]
    # Only GPU pods reach the extender, and they must not fall through to the default
    # binder when IronSpider refuses a bind (the GPU would be booked twice).
    assert extender["nodeCacheCapable"] is True and extender["ignorable"] is False
    assert {r["name"] for r in extender["managedResources"]} == {"nvidia.com/gpu", "ironspider.io/gpu-milli"}
    assert extender["weight"] == 5 and extender["httpTimeout"] == "2s"
    assert extender["bindVerb"] == "bind"
    url = urlparse(extender["urlPrefix"])
    service_name, namespace = url.hostname.split(".")[:2]
    ironspider_docs = documents(DEPLOY / "kubernetes" / "ironspider.yaml")
    service = find(ironspider_docs, "Service", service_name)
    assert service["metadata"]["namespace"] == namespace
    assert url.port in [p["port"] for p in service["spec"]["ports"]]
    deployment = find(ironspider_docs, "Deployment", "ironspider")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items()), "the Service selects the pods"
    binding = find(ironspider_docs, "ClusterRoleBinding", "ironspider")
    assert binding["subjects"][0]["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]

    # The extender binds, so IronSpider reaches the cluster and posts Bindings; evictions
    # stay dry runs unless --evict is added.
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "--in-cluster" in container["args"] and "--kube-bind" in container["args"]
    assert "--evict" not in container["args"]
    role = find(ironspider_docs, "ClusterRole", "ironspider")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert granted == {("", "nodes", "list"), ("", "nodes", "watch"), ("", "pods", "list"), ("", "pods", "watch"),
                       ("", "pods", "get"), ("", "pods/binding", "create"), ("", "pods/eviction", "create")}, "exactly the calls made"


def test_the_shipped_configuration_serves_every_wired_verb(start_server, tmp_path):
    ironspider_docs = documents(DEPLOY / "kubernetes" / "ironspider.yaml")
    toml = find(ironspider_docs, "ConfigMap", "ironspider")["data"]["ironspider.toml"]
    config_file = tmp_path / "ironspider.toml"
    config_file.write_text(toml)
    server = start_server(extra_args=["--config", str(config_file)])  # ports and data dir: the test's

    [extender] = scheduler_configuration()["extenders"]
    prefix = server.api_url + urlparse(extender["urlPrefix"]).path
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
           "spec": {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}}
    args = {"Pod": pod, "NodeNames": ["gpu-node"]}
    filtered = requests.post(f"{prefix}/{extender['filterVerb']}", json=args, timeout=5)
    assert filtered.status_code == 200
    assert filtered.json()["FailedAndUnresolvableNodes"]["gpu-node"].startswith("node gpu-node is unknown")
    scores = requests.post(f"{prefix}/{extender['prioritizeVerb']}", json=args, timeout=5)
    assert scores.status_code == 200 and scores.json() == [{"Host": "gpu-node", "Score": 0}]
    preempt = {"Pod": pod, "NodeNameToMetaVictims": {"gpu-node": {"Pods": [{"UID": "v"}], "NumPDBViolations": 0}}}
    preempted = requests.post(f"{prefix}/{extender['preemptVerb']}", json=preempt, timeout=5)
    assert preempted.status_code == 200 and preempted.json() == {"NodeNameToMetaVictims": {}}
    bind = {"PodName": "p", "PodNamespace": "default", "PodUID": "u1", "Node": "gpu-node"}
    bound = requests.post(f"{prefix}/{extender['bindVerb']}", json=bind, timeout=5)
    assert bound.status_code == 200 and bound.json()["Error"].startswith("node gpu-node is unknown")
