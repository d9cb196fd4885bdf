# Ytung on Kubernetes: loaded last by hub_config/jupyterhub_config.py ($YTUNG_EXTRA_CONFIG).
# The chart renders its values into settings.json beside this file, and values.hub.extraConfig
# into extra_config.py, loaded at the end.
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub)
HERE = Path(os.environ.get("YTUNG_EXTRA_CONFIG", "/etc/ytung/kubernetes_config.py")).parent
chart = json.loads((HERE / "settings.json").read_text())

# the hub: reachable by the proxy, the service and the workloads through its Service
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = f"http://{chart['hub_service']}:8081"

# the proxy runs in its own pod: routes survive a hub restart
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = f"http://{chart['proxy_api_service']}:8001"
c.ConfigurableHTTPProxy.auth_token = os.environ["CONFIGPROXY_AUTH_TOKEN"]

# the platform service (a hub-managed process in the hub pod) listens on the pod's address;
# workloads reach it through the hub's Service
service = c.JupyterHub.services[0]
service["url"] = f"http://{os.environ['POD_IP']}:10101"
c.YtungSpawnerMixin.ytung_service_url = f"http://{chart['hub_service']}:10101/services/ytung/"

# the workloads
c.KubeSpawner.namespace = chart["namespace"]
c.KubeSpawner.image = chart["image"]
c.KubeSpawner.start_timeout = chart["start_timeout"]
c.YtungKubeSpawner.data_pvc = chart["data_pvc"]
c.YtungKubeSpawner.data_root = chart["data_root"]
c.YtungKubeSpawner.worker_cmd = chart["worker_command"]
c.YtungKubeSpawner.rendezvous_port = chart["rendezvous_port"]
c.YtungKubeSpawner.job_worker_cmd = chart["job_worker_command"]
# S1 server paths: the service allows them, the hub pod and the training pods mount them
if roots := chart["dataset_path_roots"]:
    environment = service.setdefault("environment", {})
    environment["YTUNG_DATASET_PATH_ROOTS"] = ":".join(r["path"] for r in roots)
    c.YtungKubeSpawner.dataset_path_volumes = {
        r["path"]: (
            {"persistentVolumeClaim": {"claimName": r["existingClaim"], "readOnly": True}}
            if r.get("existingClaim")
            else {}
        )
        for r in roots
    }
c.YtungKubeSpawner.image_save_tool_image = chart["image_save"]["toolImage"]
c.YtungKubeSpawner.image_registry_secret = chart["image_save"]["registrySecret"]
c.YtungKubeSpawner.image_registry_insecure = chart["image_save"]["insecureRegistry"]
if chart["resource_limits"]:
    c.YtungSpawnerMixin.resource_limits = chart["resource_limits"]

# the operator's own additions (values.hub.extraConfig)
if (HERE / "extra_config.py").exists():
    load_subconfig(str(HERE / "extra_config.py"))  # noqa: F821
