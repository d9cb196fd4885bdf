"""The Helm chart ``helm/ytung``: rendered by Helm's own Go engine (``helm-python-sdk`` binds the
Helm SDK; no ``helm`` binary needed), manifests validated against the Kubernetes schemas
(``kubernetes-validate``), values against ``values.schema.yaml`` (source of truth)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from traitlets.config import Config

from tests.helm.schema import CHART, schema_json

helm = pytest.importorskip("helm_python")

K8S_VERSION = "1.31.0"
TOKEN = {"proxy": {"secretToken": "0123456789abcdef"}}


def render(values: dict | None = None, name: str = "ytung", namespace: str = "ai") -> dict:
    """Template path → list of the objects it renders (empty documents dropped)."""
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render({**TOKEN, **(values or {})}, name=name, namespace=namespace)
    return {
        path.split("/templates/", 1)[1]: [d for d in yaml.safe_load_all(text) if d]
        for path, text in out.items()
        if path.endswith(".yaml")
    }


def objects(rendered: dict) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for docs in rendered.values() for o in docs}


# --- the values schema ------------------------------------------------------------------------
def test_schema_json_is_the_yaml_source():
    assert (CHART / "values.schema.json").read_text() == schema_json()


def _walk(schema: dict, path: str = "values"):
    yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{key}")
    for key, sub in (schema.get("patternProperties") or {}).items():
        yield from _walk(sub, f"{path}[{key}]")
    for key, sub in (schema.get("definitions") or {}).items():
        yield from _walk(sub, f"definitions.{key}")


def test_every_key_is_described_and_objects_are_closed():
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    for path, node in _walk(schema):
        assert node.get("description"), f"{path} has no description"
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} is not closed"


def test_values_yaml_has_no_key_outside_the_schema():
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(yaml.safe_load((CHART / "values.yaml").read_text()))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hub": {"imagee": {}}}, "imagee"),
        ({"proxy": {"service": {"type": "Ingress"}}}, "type"),
        ({"storage": {"size": "lots"}}, "size"),
        ({"singleuser": {"resourceLimits": {"tpu": {"mem_limit": "1Gi"}}}}, "tpu"),
        ({"singleuser": {"resourceLimits": {"default": {"mem_limt": "1Gi"}}}}, "mem_limt"),
        ({"rbac": {"create": "yes"}}, "create"),
    ],
)
def test_helm_refuses_bad_values_with_the_key(values, message):
    with pytest.raises(helm.HelmError, match=message):
        render(values)


# --- rendered manifests ---------------------------------------------------------------------
def test_every_manifest_is_valid_kubernetes():
    rendered = render()
    assert sum(len(docs) for docs in rendered.values()) == 13
    for path, docs in rendered.items():
        for obj in docs:
            try:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(f"{path}: {obj['kind']} {e.message}") from e


def test_names_come_from_the_release():
    found = objects(render(name="lab", namespace="research"))
    assert set(found) == {
        ("ConfigMap", "lab-ytung-hub-config"),
        ("Secret", "lab-ytung-hub-secret"),
        ("Deployment", "lab-ytung-hub"),
        ("Service", "lab-ytung-hub"),
        ("PersistentVolumeClaim", "lab-ytung-data"),
        ("ServiceAccount", "lab-ytung-hub"),
        ("Role", "lab-ytung-hub"),
        ("RoleBinding", "lab-ytung-hub"),
        ("ClusterRole", "research-lab-ytung-nodes"),
        ("ClusterRoleBinding", "research-lab-ytung-nodes"),
        ("Deployment", "lab-ytung-proxy"),
        ("Service", "lab-ytung-proxy-public"),
        ("Service", "lab-ytung-proxy-api"),
    }
    proxy = found["Deployment", "lab-ytung-proxy"]["spec"]["template"]["spec"]["containers"][0]
    assert "--default-target=http://lab-ytung-hub:8081" in proxy["command"]


def test_hub_runs_our_config_with_the_kubernetes_runtime():
    found = objects(
        render(
            {
                "hub": {
                    "image": {"repository": "r/hub", "tag": "1"},
                    "configFile": "/c.py",
                    "db": {"url": "postgresql://u:p@db/y"},
                }
            }
        )
    )
    pod = found["Deployment", "ytung-hub"]["spec"]["template"]["spec"]
    hub = pod["containers"][0]
    assert hub["command"] == ["jupyterhub", "-f", "/c.py"]
    env = {e["name"]: e for e in hub["env"]}
    assert env["YTUNG_RUNTIME"]["value"] == "kubernetes"
    assert env["YTUNG_DATA_DIR"]["value"] == "/srv/ytung"
    assert env["YTUNG_DB_URL"]["valueFrom"]["secretKeyRef"]["key"] == "db-url"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["YTUNG_K8S_NAMESPACE"]["value"] == "ai"  # the service saves images here (D8)
    assert env["YTUNG_IMAGE_REGISTRY"]["value"] == ""  # saving disabled unless configured
    assert pod["serviceAccountName"] == "ytung-hub"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "ytung-data"}} in pod["volumes"]


def test_rbac_lets_the_hub_manage_pods_services_jobs_and_read_nodes():
    found = objects(render())
    rules = found["Role", "ytung-hub"]["rules"]
    assert {"pods", "services"} <= set(rules[0]["resources"])
    assert {"create", "delete", "watch"} <= set(rules[0]["verbs"])
    assert rules[2] == {
        "apiGroups": ["batch"],
        "resources": ["jobs"],
        "verbs": ["get", "list", "watch", "create", "delete"],
    }
    assert found["ClusterRole", "ai-ytung-nodes"]["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}
    ]
    assert not any(
        k in ("Role", "ClusterRole", "ServiceAccount")
        for k, _ in objects(render({"rbac": {"create": False}}))
    )


def test_existing_claim_is_used_and_none_created():
    found = objects(
        render(
            {
                "storage": {
                    "create": False,
                    "existingClaim": "shared-nfs",
                    "size": "1Ti",
                    "accessModes": ["ReadWriteMany"],
                    "mountPath": "/data",
                }
            }
        )
    )
    assert not any(kind == "PersistentVolumeClaim" for kind, _ in found)
    pod = found["Deployment", "ytung-hub"]["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "shared-nfs"}} in pod["volumes"]


def _checksums(values: dict | None = None) -> dict:
    meta = objects(render(values))["Deployment", "ytung-hub"]["spec"]["template"]["metadata"]
    return meta["annotations"]


def test_config_checksums_follow_the_config_only():
    base = _checksums()
    assert _checksums() == base  # deterministic
    changed = _checksums(
        {
            "hub": {
                "image": {"repository": "registry.local/ytung/hub", "tag": "0.1.0"},
                "configFile": "/usr/local/share/ytung/hub_config/jupyterhub_config.py",
                "extraConfig": "c.Spawner.poll_interval = 5",
            }
        }
    )
    assert changed["checksum/config"] != base["checksum/config"]
    assert changed["checksum/secret"] == base["checksum/secret"]
    token = _checksums({"proxy": {"secretToken": "another"}})
    assert token["checksum/secret"] != base["checksum/secret"]


def test_a_generated_proxy_token_is_long_and_random():
    with helm.Chart.load(str(CHART)) as chart:
        out = [chart.render({}, name="y", namespace="n") for _ in range(2)]
    tokens = [
        yaml.safe_load(o["ytung/templates/hub/secret.yaml"])["data"]["proxy-token"] for o in out
    ]
    assert tokens[0] != tokens[1] and len(tokens[0]) > 80  # base64 of 64 characters


# --- the rendered hub configuration is loadable and sets the spawner up ----------------------
def test_rendered_kubernetes_config_configures_the_hub(tmp_path, monkeypatch):
    values = {
        "hub": {
            "image": {"repository": "r/hub", "tag": "1"},
            "configFile": "/c.py",
            "extraConfig": "c.KubeSpawner.tolerations = [{'key': 'gpu', 'operator': 'Exists'}]",
        },
        "singleuser": {
            "image": {"repository": "registry.local/ytung/lab", "tag": "2"},
            "resourceLimits": {"huawei_npu_arm64": {"mem_limit": "512Gi", "cpu_limit": "96"}},
        },
        "imageSave": {"toolImage": "registry.local/tools/nerdctl:2.1", "registrySecret": "reg"},
    }
    (configmap,) = render(values, name="ytung", namespace="ai")["hub/configmap.yaml"]
    for name, text in configmap["data"].items():
        (tmp_path / name).write_text(text)
    monkeypatch.setenv("YTUNG_EXTRA_CONFIG", str(tmp_path / "kubernetes_config.py"))
    monkeypatch.setenv("POD_IP", "10.1.2.3")
    monkeypatch.setenv("CONFIGPROXY_AUTH_TOKEN", "tok")
    c = Config()
    c.JupyterHub.services = [{"name": "ytung", "url": "http://127.0.0.1:10101"}]

    def load_subconfig(path):
        exec(
            compile(Path(path).read_text(), path, "exec"),
            {"c": c, "get_config": lambda: c, "load_subconfig": load_subconfig},
        )

    load_subconfig(str(tmp_path / "kubernetes_config.py"))
    assert c.JupyterHub.hub_connect_url == "http://ytung-hub:8081"
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://ytung-proxy-api:8001"
    assert c.JupyterHub.services[0]["url"] == "http://10.1.2.3:10101"
    assert c.YtungSpawnerMixin.ytung_service_url == "http://ytung-hub:10101/services/ytung/"
    assert c.KubeSpawner.namespace == "ai"
    assert c.KubeSpawner.image == "registry.local/ytung/lab:2"
    assert c.YtungKubeSpawner.data_pvc == "ytung-data"
    assert c.YtungKubeSpawner.data_root == "/srv/ytung"
    assert c.YtungKubeSpawner.image_save_tool_image == "registry.local/tools/nerdctl:2.1"
    assert c.YtungSpawnerMixin.resource_limits == {
        "huawei_npu_arm64": {"mem_limit": "512Gi", "cpu_limit": "96"}
    }
    assert c.KubeSpawner.tolerations == [{"key": "gpu", "operator": "Exists"}]
    # and the V6 table is one the spawner accepts
    from ytung_spawner.resources import validate_table

    validate_table(c.YtungSpawnerMixin.resource_limits)
    assert os.environ["POD_IP"] == "10.1.2.3"
    assert json.loads(configmap["data"]["settings.json"])["image_save"]["registrySecret"] == "reg"
