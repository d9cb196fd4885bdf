"""JupyterHub configuration of Ytung: one file, both runtimes.

Run with ``jupyterhub -f hub_config/jupyterhub_config.py`` (``make run`` does). Nothing needs
configuring; every default can be changed with an environment variable:

=========================  ==================  ==============================================
variable                   default             meaning
=========================  ==================  ==============================================
YTUNG_PORT                 8000                public port (the proxy)
YTUNG_IP                   127.0.0.1           public address
YTUNG_DATA_DIR             ./.ytung            data root: databases, homes, datasets, jobs
YTUNG_ADMIN_PASSWORD       (generated)         initial password of ``admin`` (first start only)
YTUNG_RUNTIME              local               ``local`` or ``kubernetes``
YTUNG_SIMULATED_DEVICES    (none)              simulated devices for ``local``, e.g.
                                               ``gpu-node-1:nvidia_gpu_amd64=8;npu-node-1:huawei_npu_arm64=8``
YTUNG_HUB_PORT             8081                the hub's internal API port
YTUNG_PROXY_API_PORT       8001                configurable-http-proxy's API port
YTUNG_SERVICE_PORT         10101               the platform service's internal port
YTUNG_DB_URL               sqlite:///…         platform database (PostgreSQL in production)
YTUNG_HUB_DB_URL           sqlite:///…         the hub's own database
YTUNG_EXTRA_CONFIG         (none)              a further config file loaded last
=========================  ==================  ==============================================
"""

import os
import secrets
import shutil
import sys
from pathlib import Path

from ytung_service.bootstrap import prepare_database
from ytung_service.config import data_dir, default_db_url
from ytung_spawner.hublog import log_request

c = get_config()  # noqa: F821 (provided by JupyterHub)

HERE = Path(__file__).parent.absolute()
ROOT = HERE.parent
DATA = data_dir()
DATA.mkdir(parents=True, exist_ok=True)
os.environ["YTUNG_DATA_DIR"] = str(DATA)  # inherited by the service and the spawners

port = int(os.environ.get("YTUNG_PORT", "8000"))
ip = os.environ.get("YTUNG_IP", "127.0.0.1")
hub_port = int(os.environ.get("YTUNG_HUB_PORT", "8081"))
proxy_api_port = int(os.environ.get("YTUNG_PROXY_API_PORT", "8001"))
service_port = int(os.environ.get("YTUNG_SERVICE_PORT", "10101"))
runtime = os.environ.get("YTUNG_RUNTIME", "local")
db_url = default_db_url()
os.environ["YTUNG_DB_URL"] = db_url


def _secret_file(name: str, nbytes: int = 32) -> str:
    """A secret kept in the data dir (0600) so that restarts keep sessions and the proxy."""
    path = DATA / name
    if not path.exists():
        path.write_text(secrets.token_hex(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


# -- the platform database: schema, roles, admin, default VC ---------------------------------
generated = prepare_database(db_url)
if generated:
    bar = "=" * 72
    print(
        f"\n{bar}\n  Ytung first start: the administrator account is\n"
        f"      username: admin\n      password: {generated}\n"
        f"  It is shown only this once. Change it after signing in (Change password).\n{bar}\n",
        file=sys.stderr,
        flush=True,
    )

# -- hub, proxy ---------------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{ip}:{port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub_port}"
c.JupyterHub.db_url = os.environ.get("YTUNG_HUB_DB_URL", f"sqlite:///{DATA / 'jupyterhub.sqlite'}")
c.JupyterHub.cookie_secret = bytes.fromhex(_secret_file("jupyterhub_cookie_secret"))
c.JupyterHub.pid_file = str(DATA / "jupyterhub.pid")
c.JupyterHub.allow_named_servers = True
c.JupyterHub.default_url = "/services/ytung/"
c.JupyterHub.template_paths = [str(HERE / "templates")]
c.JupyterHub.cleanup_servers = False  # workloads outlive a hub restart
# spawns waiting in the Ytung queue are "pending" for the hub: its limit would refuse admitted ones
c.JupyterHub.concurrent_spawn_limit = 0

chp = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [
    str(chp)
    if chp.exists()
    else (shutil.which("configurable-http-proxy") or "configurable-http-proxy")
]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = _secret_file("proxy_auth_token")
c.ConfigurableHTTPProxy.pid_file = str(DATA / "proxy.pid")

# -- authentication -----------------------------------------------------------------------
c.JupyterHub.authenticator_class = "ytung_service.authenticator.YtungAuthenticator"
c.Authenticator.admin_users = {"admin"}
c.Authenticator.allow_all = True  # anyone with an account may sign in; VCs decide the rest
c.YtungAuthenticator.db_url = db_url

# -- the platform service -----------------------------------------------------------------
service_url = f"http://127.0.0.1:{service_port}"
service_token = secrets.token_hex(32)  # renewed every start; the hub registers it
os.environ["YTUNG_SERVICE_URL"] = f"{service_url}/services/ytung/"
os.environ["YTUNG_SERVICE_TOKEN"] = service_token
c.JupyterHub.services = [
    {
        "name": "ytung",
        "display": True,
        "url": service_url,
        "command": [sys.executable, "-m", "ytung_service"],
        "api_token": service_token,
        "oauth_no_confirm": True,
        # the hub passes services only what it is told to: every YTUNG_* setting
        "environment": {
            **{k: v for k, v in os.environ.items() if k.startswith("YTUNG_")},
            "YTUNG_DATA_DIR": str(DATA),
            "YTUNG_DB_URL": db_url,
            "YTUNG_RUNTIME": runtime,
            "PYTHONUNBUFFERED": "1",
        },
    }
]
c.JupyterHub.load_roles = [
    {
        # every user may use the platform service (what they may do there is its business)
        "name": "user",
        "scopes": ["self", "access:services!service=ytung"],
    },
    {
        "name": "ytung-service",
        "description": "The Ytung service starts/stops workloads and mirrors users and groups",
        "scopes": [
            "admin:users",
            "admin:groups",
            "admin:servers",
            "read:roles",
            "access:servers",
            "access:services!service=ytung",
        ],
        "services": ["ytung"],
    },
]

# the service's reconciler polls the hub every few seconds: those GETs are logged at DEBUG
c.JupyterHub.tornado_settings = {"log_function": log_request}

# -- spawners -----------------------------------------------------------------------------
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120
# the workload's token may call the service as its owner (the lab side's only way in)
c.Spawner.server_token_scopes = [
    "access:servers!server",
    "users:activity!user",
    "access:services!service=ytung",
]
if runtime == "kubernetes":
    c.JupyterHub.spawner_class = "ytung_spawner.kube.YtungKubeSpawner"
    # the service lists the cluster's nodes with the hub's credentials: in-cluster
    # (KUBERNETES_SERVICE_HOST/PORT + the pod's service account) or a kubeconfig
    c.JupyterHub.services[0]["environment"].update(
        {k: v for k, v in os.environ.items() if k.startswith("KUBERNETES_") or k == "KUBECONFIG"}
    )
    c.YtungKubeSpawner.data_root = str(DATA)  # pods see the data root where the service does
else:
    c.JupyterHub.spawner_class = "ytung_spawner.local.YtungLocalSpawner"

# more configuration: $YTUNG_EXTRA_CONFIG (a file), then hub_config/jupyterhub_config.local.py
for extra in (os.environ.get("YTUNG_EXTRA_CONFIG"), HERE / "jupyterhub_config.local.py"):
    if extra and Path(extra).exists():
        load_subconfig(str(extra))  # noqa: F821
