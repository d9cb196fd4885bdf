"""The platform service application: a JupyterHub managed service at ``/services/ytung/``.

Started by the hub (see ``hub_config/jupyterhub_config.py``) as ``python -m ytung_service``,
with the hub's service environment (``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_API_TOKEN``, …).
Configure with ``ytung_service_config.py`` in the working directory or ``--YtungService.x=y``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from urllib.parse import quote, urlparse

from jinja2 import Environment, FileSystemLoader
from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from sqlalchemy.orm import Session, sessionmaker
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.log import enable_pretty_logging
from traitlets import Bool, Dict, Float, Integer, List, TraitError, Unicode, default, validate
from traitlets.config import Application

from . import __version__, apihandlers, pages
from .admission import Admission
from .bootstrap import prepare_database
from .config import data_dir, default_db_url
from .db import make_engine
from .hub import HubClient, HubError
from .reconciler import Reconciler
from .runtimes import make_inventory
from .scheduling import Policy

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


class YtungService(Application):
    """The Ytung platform service."""

    name = "ytung-service"
    version = __version__
    description = __doc__

    config_file = Unicode(
        "ytung_service_config.py",
        help="""Config file to load (if it exists).

        Example: ``python -m ytung_service --YtungService.config_file=/etc/ytung/config.py``
        """,
    ).tag(config=True)

    db_url = Unicode(
        help="""SQLAlchemy URL of the platform database (shared with the hub's authenticator).

        Example: ``c.YtungService.db_url = "postgresql://ytung:secret@db/ytung"``
        Default: ``$YTUNG_DB_URL`` or ``sqlite:///<data dir>/ytung.sqlite``.
        """,
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self):
        return default_db_url()

    data_dir = Unicode(
        help="""The data root: homes, datasets, jobs, models.

        Example: ``c.YtungService.data_dir = "/srv/ytung"``. Default: ``$YTUNG_DATA_DIR`` or ``./.ytung``.
        """,
    ).tag(config=True)

    @default("data_dir")
    def _data_dir_default(self):
        return str(data_dir())

    bind_url = Unicode(
        help="""Where the service listens. Default: ``$JUPYTERHUB_SERVICE_URL`` (set by the hub).

        Example: ``c.YtungService.bind_url = "http://0.0.0.0:10101"``
        """,
    ).tag(config=True)

    @default("bind_url")
    def _bind_url_default(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")

    prefix = Unicode(
        help="""The URL prefix the proxy routes to the service. Default: ``$JUPYTERHUB_SERVICE_PREFIX``.

        Example: ``c.YtungService.prefix = "/services/ytung/"``
        """,
    ).tag(config=True)

    @default("prefix")
    def _prefix_default(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/ytung/")

    hub_base_url = Unicode(
        help="""The hub's public base URL path, for links back to the hub.

        Example: ``c.YtungService.hub_base_url = "/"``. Default: ``$JUPYTERHUB_BASE_URL`` or ``/``.
        """,
    ).tag(config=True)

    @default("hub_base_url")
    def _hub_base_url_default(self):
        return os.environ.get("JUPYTERHUB_BASE_URL", "/")

    prepare_db = Bool(
        True,
        help="""Migrate the database and create the first-start state when the service starts.

        Example: ``c.YtungService.prepare_db = False`` when migrations run as a separate job.
        """,
    ).tag(config=True)

    runtime = Unicode(
        help="""Where workloads run: ``local`` (processes on this machine) or ``kubernetes``.

        Example: ``c.YtungService.runtime = "kubernetes"``. Default: ``$YTUNG_RUNTIME`` or ``local``.
        """,
    ).tag(config=True)

    @default("runtime")
    def _runtime_default(self):
        return os.environ.get("YTUNG_RUNTIME", "local")

    simulated_devices = Unicode(
        help="""A simulated device inventory for the local runtime (demos, tests).

        Example: ``c.YtungService.simulated_devices = "gpu-node-1:nvidia_gpu_amd64=8;npu-node-1:huawei_npu_arm64=8"``
        Default: ``$YTUNG_SIMULATED_DEVICES``; empty means: detect with nvidia-smi / npu-smi.
        """,
    ).tag(config=True)

    @default("simulated_devices")
    def _simulated_devices_default(self):
        return os.environ.get("YTUNG_SIMULATED_DEVICES", "")

    reconcile_interval = Float(
        help="""Seconds between two reconciliations of allocations with the hub's servers.

        Example: ``c.YtungService.reconcile_interval = 10``. Default: ``$YTUNG_RECONCILE_INTERVAL`` or 5.
        """,
    ).tag(config=True)

    @default("reconcile_interval")
    def _reconcile_interval_default(self):
        return float(os.environ.get("YTUNG_RECONCILE_INTERVAL") or 5)

    reconcile_grace = Float(
        help="""Seconds an admitted hub spawn may go without a server before the service starts
        it itself (a hub restart lost the pending spawn).

        Example: ``c.YtungService.reconcile_grace = 60``. Default: ``$YTUNG_RECONCILE_GRACE`` or 30.
        """,
    ).tag(config=True)

    @default("reconcile_grace")
    def _reconcile_grace_default(self):
        return float(os.environ.get("YTUNG_RECONCILE_GRACE") or 30)

    estimate_interval = Float(
        help="""Fewest seconds between two estimates of when queued workloads start (X1). An estimate
        simulates several scheduling passes (in a worker thread, after a reconciliation); a workload
        queued meanwhile shows "not estimated yet" until the next one.

        Example: ``c.YtungService.estimate_interval = 60``. Default: ``$YTUNG_ESTIMATE_INTERVAL`` or 30.
        """,
    ).tag(config=True)

    @default("estimate_interval")
    def _estimate_interval_default(self):
        return float(os.environ.get("YTUNG_ESTIMATE_INTERVAL") or 30)

    @validate("estimate_interval")
    def _validate_estimate_interval(self, proposal):
        if proposal["value"] < 0:
            raise TraitError(f"estimate_interval must be >= 0 seconds; got {proposal['value']}")
        return proposal["value"]

    reserve_after = Float(
        600.0,
        help="""Seconds a workload waits before it reserves devices so that smaller, later
        workloads cannot starve it.

        Example: ``c.YtungService.reserve_after = 1800``
        """,
    ).tag(config=True)

    dataset_path_roots = List(
        Unicode(),
        help="""Server directories under which users may register existing data as datasets
        (SPEC S1, "server path"); the files stay where they are. Empty: the feature is off.

        Example: ``c.YtungService.dataset_path_roots = ["/mnt/nfs/datasets", "/data/public"]``
        Default: ``$YTUNG_DATASET_PATH_ROOTS`` (paths separated by ``:``) or none.
        """,
    ).tag(config=True)

    @default("dataset_path_roots")
    def _dataset_path_roots_default(self):
        return [p for p in os.environ.get("YTUNG_DATASET_PATH_ROOTS", "").split(os.pathsep) if p]

    dataset_max_extracted_bytes = Integer(
        50 * 1024**3,
        help="""The most bytes one uploaded dataset archive may unpack to (SPEC S1); a bigger
        one is refused and nothing of it stays.

        Example: ``c.YtungService.dataset_max_extracted_bytes = 100 * 1024**3``
        """,
    ).tag(config=True)

    dataset_max_files = Integer(
        500_000,
        help="""The most files (and links) one uploaded dataset archive may hold.

        Example: ``c.YtungService.dataset_max_files = 2_000_000``
        """,
    ).tag(config=True)

    dataset_max_ratio = Float(
        200.0,
        help="""The most bytes an archive may unpack to per byte of archive (zip bombs); it
        applies once more than ``dataset_ratio_floor_bytes`` are unpacked.

        Example: ``c.YtungService.dataset_max_ratio = 1000``
        """,
    ).tag(config=True)

    dataset_ratio_floor_bytes = Integer(
        64 * 1024**2,
        help="""Archives unpacking to at most this many bytes are not held to
        ``dataset_max_ratio`` (small, very compressible datasets).

        Example: ``c.YtungService.dataset_ratio_floor_bytes = 256 * 1024**2``
        """,
    ).tag(config=True)

    @validate(
        "dataset_max_extracted_bytes",
        "dataset_max_files",
        "dataset_max_ratio",
        "dataset_ratio_floor_bytes",
    )
    def _validate_dataset_limits(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError(f"{proposal['trait'].name} must be positive")
        return proposal["value"]

    def dataset_limits(self):
        """The archive extraction limits (:class:`ytung_service.archives.Limits`) configured."""
        from .archives import Limits

        return Limits(
            max_total_bytes=self.dataset_max_extracted_bytes,
            max_files=self.dataset_max_files,
            max_ratio=self.dataset_max_ratio,
            ratio_floor_bytes=self.dataset_ratio_floor_bytes,
        )

    devenv_engines = List(
        Dict(),
        help="""The preset engines a dev environment can start from (SPEC D1): ``name``,
        ``image`` (the container image on Kubernetes), ``engine_type``, ``description`` and
        optionally ``hpo: True`` (an image with the hyper-parameter tuning tools).

        Example::

            c.YtungService.devenv_engines = [
                {"name": "pytorch-2.13-cuda", "engine_type": "PyTorch",
                 "image": "registry.example.com/ai/pytorch:2.13.0-cuda12.8",
                 "description": "PyTorch 2.13, CUDA 12.8"},
                {"name": "mindspore-2.4-ascend", "engine_type": "MindSpore",
                 "image": "registry.example.com/ai/mindspore:2.4.10-ascend-arm64"},
            ]

        Default: PyTorch CPU and CUDA images, one with tuning tools, a MindSpore Ascend image.
        """,
    ).tag(config=True)

    @default("devenv_engines")
    def _devenv_engines_default(self):
        from .devenvs import DEFAULT_ENGINES

        return [dict(e) for e in DEFAULT_ENGINES]

    @validate("devenv_engines")
    def _validate_devenv_engines(self, proposal):
        from .devenvs import validate_engines

        try:
            return validate_engines(proposal["value"])
        except ValueError as e:
            raise TraitError(str(e)) from e

    ssh_host = Unicode(
        "",
        help="""The host name users put in ``ssh -p PORT user@HOST`` to reach a dev environment
        (SPEC D5). Empty: the host name the user's browser used for the platform.

        Example: ``c.YtungService.ssh_host = "ssh.ai.example.com"``
        """,
    ).tag(config=True)

    aliases = {"log-level": "Application.log_level", "db-url": "YtungService.db_url"}

    def initialize(self, argv=None):
        super().initialize(argv)
        if os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
        enable_pretty_logging()
        self.log = logging.getLogger("ytung")
        self.log.setLevel(self.log_level)
        if self.prepare_db:
            generated = prepare_database(self.db_url)
            if generated:
                self.log.warning("created admin with password %s", generated)
        self.engine = make_engine(self.db_url)
        self.session = sessionmaker(bind=self.engine, class_=Session, expire_on_commit=False)
        self.jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
        if self.runtime == "local":
            self.inventory = make_inventory("local", simulated=self.simulated_devices or None)
        else:
            self.inventory = make_inventory(self.runtime)
        self.admission = Admission(
            self.session,
            self.nodes,
            Policy(reserve_after=self.reserve_after),
            estimate_interval=self.estimate_interval,
        )
        self.reconciler = Reconciler(
            self.admission,
            HubClient(),
            interval=self.reconcile_interval,
            grace=self.reconcile_grace,
        )
        self._groups: dict[str, tuple[float, list[str]]] = {}
        self.tornado_app = self.make_app()

    async def hub_groups(self, username: str, fresh: bool = False) -> list[str] | None:
        """``username``'s JupyterHub groups (asked at most every 10 s per user unless
        ``fresh``); None if unknown."""
        now = time.monotonic()
        cached = self._groups.get(username)
        if cached and now - cached[0] < 10 and not fresh:
            return cached[1]
        if not self.reconciler.hub.configured:
            return None
        try:
            model = await self.reconciler.hub.request("GET", f"users/{quote(username)}")
        except HubError as e:
            self.log.warning("could not read the hub groups of %s: %s", username, e)
            return None
        groups = sorted(model.get("groups") or [])
        self._groups[username] = (now, groups)
        return groups

    async def sync_groups(self, session, user, fresh: bool = False) -> None:
        """Bring ``user.hub_groups`` up to date (group members of a VC may use it, SPEC V2).

        ``fresh`` for the decisions that start something (the spawner's access check, a
        submit); browsing may see a change up to 10 s late."""
        groups = await self.hub_groups(user.name, fresh)
        if groups is not None and groups != (user.hub_groups or []):
            user.hub_groups = groups
            session.commit()

    async def nodes(self):
        """The cluster's nodes and devices now (the runtime's inventory, cached by it)."""
        return await self.inventory.nodes()

    def make_app(self) -> web.Application:
        # the singleton: HubOAuthCallbackHandler finds the same instance (PKCE state lives in it)
        hub_auth = HubOAuth.instance(cache_max_age=60)
        handlers = [(r"oauth_callback", HubOAuthCallbackHandler)]
        handlers += apihandlers.default_handlers + pages.default_handlers
        routes = [
            (url_path_join(self.prefix, path.lstrip("/")), handler) for path, handler in handlers
        ]
        return web.Application(
            routes,
            ytung=self,
            hub_auth=hub_auth,
            cookie_secret=os.urandom(32),
            xsrf_cookies=True,
            login_url=hub_auth.login_url,
            log_function=self._log_request,
        )

    def _log_request(self, handler):
        status = handler.get_status()
        level = logging.INFO if status < 400 else logging.WARNING
        if status >= 500:
            level = logging.ERROR
        self.log.log(
            level,
            "%d %s %s %.1fms",
            status,
            handler.request.method,
            handler.request.uri,
            1000 * handler.request.request_time(),
        )

    async def serve(self) -> None:
        keep_freed_memory()
        url = urlparse(self.bind_url)
        # dataset chunks are streamed to disk: read the socket in 1 MiB pieces, not tornado's
        # 64 KiB default (4x fewer callbacks per GB; measured by benchmarks/datasets.py)
        server = HTTPServer(self.tornado_app, xheaders=True, chunk_size=1024 * 1024)
        server.listen(url.port or 80, url.hostname or "127.0.0.1")
        self.log.info("Ytung service %s listening on %s%s", __version__, self.bind_url, self.prefix)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        reconciling = asyncio.create_task(self.reconciler.run_forever())
        await stop.wait()
        reconciling.cancel()
        server.stop()
        self.engine.dispose()

    def start(self):
        asyncio.run(self.serve())


def keep_freed_memory(mmap_threshold: int = 4 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Have glibc's malloc keep freed memory for reuse (answers whether it could be told).

    An upload is received in pieces of up to 1 MiB and up to 16 MiB of them are held
    (``archives.PIPE_BUDGET``). With glibc's defaults, each piece is an ``mmap`` of its own or
    the top of the heap is given back once they go, and the kernel zeroes the pages again for
    the next ones: ~200,000 page faults and ~0.4 CPU-s per GB received. Pieces under
    ``mmap_threshold`` come from the heap, and up to ``trim_threshold`` bytes freed at its top
    stay there (not more: the service's resident memory stays small).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): their own ways
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(
        mallopt(m_trim_threshold, trim_threshold)
    )


main = YtungService.launch_instance
