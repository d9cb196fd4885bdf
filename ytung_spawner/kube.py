"""``YtungKubeSpawner``: workloads as Kubernetes pods (runtime ``kubernetes``).

KubeSpawner with the Ytung admission mixin. ``get_pod_manifest()`` lets KubeSpawner build its
pod from its own traits (image, command, hub env, the operator's settings), then hands it and
the admitted workload to the pure :func:`ytung_spawner.objects.make_workload_pod`: device limits,
node pinning from the placement, arch selector, V6 floor/ceiling, D1 privilege, the data root's
PVC, ``ytung.io/*`` labels.

A workload on more than one node also gets a headless service and one worker pod per extra
node (:func:`~ytung_spawner.objects.make_worker_pods`), created before the master pod and
deleted with it; every rank has ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK`` and ``WORLD_SIZE``.
The worker pods of a training job run the job runner of their node (``job_worker_cmd``): each
node's ranks run in its own pod, the master's server runs node 0 and reports the job's end
(:mod:`ytung_server_ext.jobrunner`). A training run's dataset registered from a server path
is mounted from ``dataset_path_volumes``; a run whose dataset no volume holds does not start.

A container that the kubelet killed for memory (``OOMKilled``) is reported to the service as
``failed`` with that reason (SPEC V6).

D8: :func:`save_image` commits a running server's container into the registry with a Job
(:func:`~ytung_spawner.objects.make_image_save_job`).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any

from kubernetes_asyncio.client import ApiClient, ApiException
from kubespawner import KubeSpawner
from traitlets import Bool, Dict, Integer, List, TraitError, Unicode, default, validate

from . import objects
from .mixin import YtungSpawnerMixin

_SERIALIZER = ApiClient.__new__(ApiClient)  # only its (stateless) (de)serialisation is used


def to_dict(model: Any) -> dict:
    """A kubernetes_asyncio model (``V1Pod``…) as the JSON dict the API server sees."""
    return ApiClient.sanitize_for_serialization(_SERIALIZER, model)


def to_model(data: dict, kind: str = "V1Pod") -> Any:
    """A JSON dict back as a kubernetes_asyncio model (``kind`` like ``"V1Pod"``)."""

    class _Response:
        pass

    response = _Response()
    response.data = json.dumps(data)
    return ApiClient.deserialize(_SERIALIZER, response, kind)


class WorkloadKubeSpawner(KubeSpawner):
    """KubeSpawner plus the worker pods and headless service of a multi-node workload.

    Sits between the mixin and KubeSpawner so that every stop — the hub's, or the mixin's
    clean-up after a failed start — removes the workers before the devices are reported free.
    """

    ytung_workload: dict | None = None
    #: a token of the current start, shared by the pods it creates (``Rendezvous.attempt``)
    ytung_attempt: str = ""

    worker_cmd = List(
        Unicode(),
        default_value=["sleep", "infinity"],
        help="""What worker pods (ranks 1…N-1 of a multi-node workload) run, unless the workload
        names a ``worker_command`` in its options (training jobs: ``job_worker_cmd``). The default keeps the node's devices held for
        the ranks the master starts (``torchrun``, ``mpirun`` over the headless service).

        Example: ``c.YtungKubeSpawner.worker_cmd = ["/opt/ytung/worker.sh"]``
        """,
    ).tag(config=True)

    rendezvous_port = Integer(
        29500,
        help="""``MASTER_PORT`` of distributed workloads (the headless service's port).

        Example: ``c.YtungKubeSpawner.rendezvous_port = 23456``
        """,
    ).tag(config=True)

    def ytung_rendezvous(self) -> objects.Rendezvous | None:
        workload = self.ytung_workload
        if not workload or len(workload.get("placement") or {}) < 2:
            return None
        return objects.Rendezvous(
            objects.service_name(workload),
            self.namespace,
            self.rendezvous_port,
            attempt=self.ytung_attempt,
        )

    job_worker_cmd = List(
        Unicode(),
        default_value=[
            "python",
            "-m",
            "ytung_server_ext.jobrunner",
            "--node-rank",
            "$(YTUNG_NODE_RANK)",
        ],
        help="""What the worker pods of a training job on several nodes run: the job runner of
        one node (its ranks, logs and status on the shared storage; the master's server runs
        node 0 and reports the job's end). ``$(YTUNG_NODE_RANK)`` is expanded by the kubelet
        from the pod's environment (1…N-1).

        Example: ``c.YtungKubeSpawner.job_worker_cmd = ["/opt/conda/bin/python", "-m",
        "ytung_server_ext.jobrunner", "--node-rank", "$(YTUNG_NODE_RANK)"]``
        """,
    ).tag(config=True)

    def ytung_worker_command(self) -> list[str]:
        workload = self.ytung_workload or {}
        options = workload.get("user_options") or {}
        if workload.get("kind") == "training" and isinstance(options.get("job"), dict):
            return list(self.job_worker_cmd)
        command = options.get("worker_command")
        if isinstance(command, str) and command.strip():
            return ["sh", "-c", command]
        if isinstance(command, list) and command and all(isinstance(c, str) for c in command):
            return command
        return list(self.worker_cmd)

    async def _start(self):
        # every pod of this start gets it (master and workers: the job runner's status files)
        self.ytung_attempt = secrets.token_hex(8)
        rendezvous = self.ytung_rendezvous()
        if rendezvous is None:
            return await super()._start()
        await self._ytung_delete_ranks()  # leftovers of an earlier, crashed start
        try:
            base = to_dict(await KubeSpawner.get_pod_manifest(self))
            try:
                workers = objects.make_worker_pods(
                    base,
                    self.ytung_workload,
                    command=self.ytung_worker_command(),
                    rendezvous=rendezvous,
                    **self.ytung_pod_settings(),
                )
            except objects.UnmountablePath as e:
                raise self.ytung_unmountable(e) from None
            service = objects.make_headless_service(self.ytung_workload, rendezvous)
            await self.api.create_namespaced_service(self.namespace, service)
            for worker in workers:
                self.log.info("Creating worker pod %s", worker["metadata"]["name"])
                await self.api.create_namespaced_pod(self.namespace, worker)
            return await super()._start()
        except BaseException:
            # no worker may hold a node's devices for a start that failed, whoever cleans up
            await asyncio.shield(self._ytung_delete_ranks_quietly())
            raise

    def ytung_pod_settings(self) -> dict:  # the mixin's side provides it
        raise NotImplementedError

    def ytung_unmountable(self, e: objects.UnmountablePath) -> Exception:
        return e

    async def _ytung_delete_ranks(self, workload_id: int | None = None) -> None:
        """Delete the worker pods and headless service of this server's workload, if any."""
        wid = workload_id if workload_id is not None else getattr(self, "ytung_workload_id", None)
        if wid is None:
            return
        selector = f"{objects.LABEL_WORKLOAD}={int(wid)},component={objects.WORKER_COMPONENT}"
        pods = await self.api.list_namespaced_pod(self.namespace, label_selector=selector)
        for pod in pods.items:
            try:
                await self.api.delete_namespaced_pod(
                    pod.metadata.name, self.namespace, grace_period_seconds=0
                )
            except ApiException as e:
                if e.status != 404:
                    raise
        try:
            await self.api.delete_namespaced_service(f"ytung-{int(wid)}", self.namespace)
        except ApiException as e:
            if e.status != 404:
                raise

    async def _ytung_delete_ranks_quietly(self) -> None:
        try:
            await self._ytung_delete_ranks()
        except Exception:
            self.log.exception("could not delete the worker pods of workload %s", self._wid())

    def _wid(self):
        return getattr(self, "ytung_workload_id", None)

    async def stop(self, now=False):
        # KubeSpawner waits start_timeout for the pod to go, and the mixin stretched that by the
        # queue's week: a pod stuck terminating (its node is down) must fail the stop in the
        # launch timeout instead, with its devices still held
        stretched = self.start_timeout
        self.start_timeout = getattr(self, "_ytung_launch_timeout", stretched)
        try:
            await super().stop(now=now)
        except BaseException:
            # the master's stop failed: its workers go anyway (the error still fails the stop)
            await asyncio.shield(self._ytung_delete_ranks_quietly())
            raise
        finally:
            self.start_timeout = stretched
        await self._ytung_delete_ranks()


class YtungKubeSpawner(YtungSpawnerMixin, WorkloadKubeSpawner):
    """KubeSpawner behind the Ytung admission gate; see the module docstring.

    Configure as ``c.YtungKubeSpawner.*`` (KubeSpawner's traits too: ``image``, ``namespace``…).
    """

    data_pvc = Unicode(
        "",
        help="""The PersistentVolumeClaim holding the data root (homes, datasets, models, jobs),
        shared with the hub and service. Empty: no shared storage is mounted.

        Example: ``c.YtungKubeSpawner.data_pvc = "ytung-data"``
        """,
    ).tag(config=True)

    data_root = Unicode(
        help="""Where the service sees the data root; pods mount the same sub-paths at the same
        places, so paths the service hands out are valid inside a workload.

        Example: ``c.YtungKubeSpawner.data_root = "/srv/ytung"``. Default: ``$YTUNG_DATA_DIR``.
        """,
    ).tag(config=True)

    @default("data_root")
    def _data_root_default(self):
        return os.environ.get("YTUNG_DATA_DIR", "/srv/ytung")

    dataset_path_volumes = Dict(
        help="""Where the pods find datasets registered from a server path (SPEC S1; the
        service's ``c.YtungService.dataset_path_roots``): each root → a Kubernetes volume
        source that holds it. A training run mounts only its dataset's directory, read-only,
        at the same absolute path it has on the server. An empty source means ``hostPath`` of
        the root (the same directory on every node, e.g. an NFS mount of the hosts). A run
        whose dataset lies under no root here does not start: it fails with that reason.

        Example: ``c.YtungKubeSpawner.dataset_path_volumes = {"/data/public": {},
        "/mnt/nfs/datasets": {"persistentVolumeClaim": {"claimName": "datasets-nfs"}}}``
        """,
    ).tag(config=True)

    @validate("dataset_path_volumes")
    def _valid_path_volumes(self, proposal):
        value = proposal["value"]
        for root, source in value.items():
            if not isinstance(root, str) or not os.path.isabs(root) or "\x00" in root:
                raise TraitError(f"dataset_path_volumes: {root!r} is not an absolute path")
            if source is None:
                continue
            if not isinstance(source, dict) or len(source) > 1:
                raise TraitError(
                    f"dataset_path_volumes[{root!r}]: one volume source, e.g. "
                    '{"persistentVolumeClaim": {"claimName": "datasets"}}, or {}'
                )
        return value

    def ytung_path_volumes(self) -> list[objects.PathVolume]:
        return [
            objects.PathVolume(root, source or None)
            for root, source in sorted(self.dataset_path_volumes.items())
        ]

    image_save_tool_image = Unicode(
        "",
        help="""D8: an image with ``nerdctl`` that commits and pushes a running container
        (``nerdctl --namespace k8s.io commit``, then ``push``) on the container's node.

        Example: ``c.YtungKubeSpawner.image_save_tool_image = "registry.local/tools/nerdctl:2.1"``
        """,
    ).tag(config=True)

    image_registry_secret = Unicode(
        "",
        help="""D8: a ``kubernetes.io/dockerconfigjson`` Secret with the registry's credentials
        for pushing saved images (empty: push without credentials).

        Example: ``c.YtungKubeSpawner.image_registry_secret = "ytung-registry"``
        """,
    ).tag(config=True)

    image_registry_insecure = Bool(
        False,
        help="""D8: push saved images over plain HTTP (a registry inside the cluster).

        Example: ``c.YtungKubeSpawner.image_registry_insecure = True``
        """,
    ).tag(config=True)

    _ytung_termination: dict | None = None
    _ytung_polling: bool = False

    # -- the workload --------------------------------------------------------------------
    def ytung_bind(self, workload: dict) -> None:
        super().ytung_bind(workload)
        self.ytung_workload = workload
        # the job runner runs a node's ranks per pod here (ytung_server_ext.jobrunner)
        self._ytung_env["YTUNG_RUNTIME"] = "kubernetes"
        # D1: the engine image the service chose (preset, saved or custom; validated there);
        # a server started from the hub's own spawn page runs this spawner's image
        image = ((workload.get("user_options") or {}).get("devenv") or {}).get("image")
        if isinstance(image, str) and image and workload.get("origin") != "hub":
            self.image = image

    def ytung_privileged(self) -> bool:
        """D1 Privilege Job: only what the service stored on the workload counts (a user can
        put anything in their own ``user_options`` through the hub API)."""
        options = (self.ytung_workload or {}).get("user_options") or {}
        return bool((options.get("devenv") or {}).get("privileged") is True)

    def ytung_pod_settings(self) -> dict:
        workload = self.ytung_workload or {}
        return {
            "limits": self.ytung_limits(workload.get("device_type")),
            "data": objects.DataVolume(self.data_pvc, self.data_root) if self.data_pvc else None,
            "privileged": self.ytung_privileged(),
            "path_volumes": self.ytung_path_volumes(),
        }

    def get_args(self):
        args = super().get_args()
        if self.ytung_privileged() and "--allow-root" not in args:
            args.append("--allow-root")  # jupyter-server refuses root without it
        return args

    async def get_pod_manifest(self):
        pod = await super().get_pod_manifest()
        if self.ytung_workload is None:
            return pod
        try:
            built = objects.make_workload_pod(
                to_dict(pod),
                self.ytung_workload,
                rendezvous=self.ytung_rendezvous(),
                **self.ytung_pod_settings(),
            )
        except objects.UnmountablePath as e:
            raise self.ytung_unmountable(e) from None
        return to_model(built)

    def ytung_unmountable(self, e: objects.UnmountablePath) -> ValueError:
        """The reason a run whose dataset no pod can read does not start (shown on the job)."""
        _ = self._translate()
        return ValueError(
            _(
                "The dataset directory {path} cannot be mounted in Kubernetes pods: an admin "
                "must add its root to c.YtungKubeSpawner.dataset_path_volumes",
                path=e.path,
            )
        )

    # -- how it ended ---------------------------------------------------------------------
    def _termination(self) -> dict | None:
        reflector = self.pod_reflector
        pod = reflector.pods.get(f"{self.namespace}/{self.pod_name}") if reflector else None
        for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == objects.CONTAINER:
                return (status.get("state") or {}).get("terminated")
        return None

    async def poll(self):
        if self.pod_reflector is not None:
            self._ytung_termination = self._termination()
        # KubeSpawner.poll() deletes an ended pod with self.stop(): the mixin's poll reports
        # how it ended (failed, OOMKilled), not the stop's "stopped"
        self._ytung_polling = True
        try:
            return await super().poll()
        finally:
            self._ytung_polling = False

    async def stop(self, now=False):
        if self._ytung_polling:  # deleting the ended pod: no "stopped" (see poll)
            return await WorkloadKubeSpawner.stop(self, now=now)
        return await super().stop(now=now)

    async def ytung_event(self, event: str, message: str = "") -> None:
        terminated = self._ytung_termination
        if event == "failed" and terminated and terminated.get("reason"):
            reason = terminated["reason"]
            if reason == "OOMKilled":
                limit = self.ytung_limits((self.ytung_workload or {}).get("device_type"))
                message = (
                    f"OOMKilled: out of memory, the workload's limit is {limit.mem_limit} "
                    f"({message})"
                )
            else:
                message = f"{reason}: {terminated.get('message') or ''} ({message})"
        await super().ytung_event(event, message)

    def get_state(self):
        state = super().get_state()
        if self.ytung_workload is not None:
            state["ytung_workload_model"] = self.ytung_workload
        return state

    def load_state(self, state):
        super().load_state(state)
        self.ytung_workload = state.get("ytung_workload_model")

    def clear_state(self):
        super().clear_state()
        self.ytung_workload = None
        self._ytung_termination = None


# -- D8: save a running environment as an image --------------------------------------------
async def save_image(
    spawner: YtungKubeSpawner,
    image_ref: str,
    *,
    wait: bool = True,
    timeout: float = 3600,
    poll_interval: float = 2.0,
) -> dict:
    """Commit the running container of ``spawner``'s pod as ``image_ref`` and push it (D8),
    with the spawner's ``image_save_tool_image`` / ``image_registry_secret`` /
    ``image_registry_insecure``; see :func:`ytung_service.runtimes.kubernetes.save_pod_image`.

    Returns the Job as a dict. With ``wait``: ``RuntimeError`` when the Job failed,
    ``TimeoutError`` when it did not finish in ``timeout``. ``ValueError`` for an image
    reference without a tag, a pod that is not running, or no tool image configured.
    """
    from kubernetes_asyncio.client import BatchV1Api

    from ytung_service.runtimes.kubernetes import save_pod_image

    from . import objects

    if not objects.valid_image_ref(image_ref):
        raise ValueError(f"not an image reference with a tag: {image_ref!r}")
    if not spawner.image_save_tool_image:
        raise ValueError("c.YtungKubeSpawner.image_save_tool_image is not configured")
    job = await save_pod_image(
        spawner.api,
        BatchV1Api(spawner.api.api_client),
        spawner.namespace,
        spawner.pod_name,
        image_ref,
        tool_image=spawner.image_save_tool_image,
        registry_secret=spawner.image_registry_secret,
        insecure_registry=spawner.image_registry_insecure,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
    )
    status = job.get("status") or {}
    if wait and status.get("failed"):
        raise RuntimeError(
            f"saving {image_ref} failed: see Job {spawner.namespace}/{job['metadata']['name']}"
        )
    if wait and not status.get("succeeded"):
        raise TimeoutError(f"saving {image_ref} did not finish: Job {job['metadata']['name']}")
    return job
