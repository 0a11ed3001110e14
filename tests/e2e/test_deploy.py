"""The deployment files in deploy/: the KubeSchedulerConfiguration and the manifests agree
with each other (certificates and secrets included), and the configuration they ship runs the
real server, whose extender answers every verb the scheduler configuration wires, under the
URL prefix it names, over mutual TLS with kube-scheduler's client certificate."""

import shutil
from pathlib import Path
from urllib.parse import urlparse

import requests
import yaml

from pki import Authority

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
    assert url.scheme == "https" and extender["enableHTTPS"] is True
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
    # The history outlives the pod.
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert find(ironspider_docs, "PersistentVolumeClaim", claim)["metadata"]["namespace"] == namespace
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    role = find(ironspider_docs, "ClusterRole", "ironspider")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert granted == {("", "nodes", "list"), ("", "nodes", "watch"), ("", "pods", "list"), ("", "pods", "watch"),
                       ("", "pods", "get"), ("", "pods/binding", "create"), ("", "pods/eviction", "create")}, "exactly the calls made"


def mounted_secret(deployment: dict, path: str) -> str:
    """The name of the secret a container of `deployment` mounts at the directory of `path`."""
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in spec["containers"]:
        for mount in container["volumeMounts"]:
            if str(Path(path).parent) == mount["mountPath"]:
                return volumes[mount["name"]]["secret"]["secretName"]
    raise AssertionError(f"nothing mounted at {Path(path).parent}")


def test_the_certificates_are_the_ones_mounted_and_named():
    certificates = {c["spec"]["secretName"]: c["spec"] for c in documents(DEPLOY / "kubernetes" / "tls.yaml")
                    if c["kind"] == "Certificate"}
    ironspider_docs = documents(DEPLOY / "kubernetes" / "ironspider.yaml")
    config = find(ironspider_docs, "ConfigMap", "ironspider")["data"]["ironspider.toml"]
    deployment = find(ironspider_docs, "Deployment", "ironspider")
    cert_file = next(line.split('"')[1] for line in config.splitlines() if line.startswith("cert_file"))
    serving = certificates[mounted_secret(deployment, cert_file)]
    [extender] = scheduler_configuration()["extenders"]
    assert urlparse(extender["urlPrefix"]).hostname in serving["dnsNames"]
    assert serving["usages"] == ["server auth"]
    scheduler = find(documents(DEPLOY / "kubernetes" / "scheduler.yaml"), "Deployment", "ironspider-scheduler")
    client = certificates[mounted_secret(scheduler, extender["tlsConfig"]["certFile"])]
    assert client["usages"] == ["client auth"]
    assert client["issuerRef"] == serving["issuerRef"], "IronSpider trusts the CA that signed the client"


def test_the_shipped_configuration_serves_every_wired_verb(start_server, tmp_path, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # requests would prefer it to `verify`
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    ironspider_docs = documents(DEPLOY / "kubernetes" / "ironspider.yaml")
    toml = find(ironspider_docs, "ConfigMap", "ironspider")["data"]["ironspider.toml"]
    # The secrets' files, made here: cert-manager's layout (tls.crt, tls.key, ca.crt) and one
    # token per file.
    ca = Authority.create(tmp_path, "ironspider-ca")
    serving, client = ca.issue("ironspider"), ca.issue("ironspider-scheduler", client=True)
    (tmp_path / "tls").mkdir()
    for source, name in ((serving.cert, "tls.crt"), (serving.key, "tls.key"), (ca.cert, "ca.crt")):
        shutil.copy(source, tmp_path / "tls" / name)
    (tmp_path / "tokens").mkdir()
    for role in ("ingest", "read"):
        (tmp_path / "tokens" / role).write_text(f"{role}-token\n")
    toml = toml.replace("/etc/ironspider/tls/", f"{tmp_path}/tls/").replace("/etc/ironspider/tokens/", f"{tmp_path}/tokens/")
    config_file = tmp_path / "ironspider.toml"
    config_file.write_text(toml)
    server = start_server(extra_args=["--config", str(config_file)], tls_ca=ca.cert)  # ports, data dir: the test's

    [extender] = scheduler_configuration()["extenders"]
    prefix = server.api_url + urlparse(extender["urlPrefix"]).path
    # kube-scheduler's side of the handshake: its client certificate, IronSpider's CA.
    session = requests.Session()
    session.cert = (str(client.cert), str(client.key))
    session.verify = str(ca.cert)
    # Without it (and without a token) the extender's routes are refused.
    assert requests.post(f"{prefix}/{extender['filterVerb']}", json={}, verify=str(ca.cert), timeout=5).status_code == 401
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
           "spec": {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}}
    args = {"Pod": pod, "NodeNames": ["gpu-node"]}
    filtered = session.post(f"{prefix}/{extender['filterVerb']}", json=args, timeout=5)
    assert filtered.status_code == 200
    assert filtered.json()["FailedAndUnresolvableNodes"]["gpu-node"].startswith("node gpu-node is unknown")
    scores = session.post(f"{prefix}/{extender['prioritizeVerb']}", json=args, timeout=5)
    assert scores.status_code == 200 and scores.json() == [{"Host": "gpu-node", "Score": 0}]
    preempt = {"Pod": pod, "NodeNameToMetaVictims": {"gpu-node": {"Pods": [{"UID": "v"}], "NumPDBViolations": 0}}}
    preempted = session.post(f"{prefix}/{extender['preemptVerb']}", json=preempt, timeout=5)
    assert preempted.status_code == 200 and preempted.json() == {"NodeNameToMetaVictims": {}}
    bind = {"PodName": "p", "PodNamespace": "default", "PodUID": "u1", "Node": "gpu-node"}
    bound = session.post(f"{prefix}/{extender['bindVerb']}", json=bind, timeout=5)
    assert bound.status_code == 200 and bound.json()["Error"].startswith("node gpu-node is unknown")
