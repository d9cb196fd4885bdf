"""The one fake Kubernetes of the tests: an API server and a kubelet, real HTTP, real processes.

No kube-apiserver can run on the build machines (ENVIRONMENT.md), so the real KubeSpawner,
kubernetes_asyncio and the service's inventory talk to this instead:

- :class:`FakeApiServer` — kmock's :class:`~kmock.KubernetesEmulator` (an aiohttp server that
  stores objects) with what kubernetes_asyncio needs and kmock 0.8 lacks: ``watch=True`` read as
  ``watch=true``; ``labelSelector`` (``=``, ``==``, ``!=``, ``key``, ``!key``) and
  ``fieldSelector`` (``a.b=c``, ``!=``) applied to lists and watches; ``timeoutSeconds`` ending a
  watch; server-side ``uid``, ``resourceVersion``, ``namespace``, ``creationTimestamp`` and a
  ``Pending`` status on create; the resources KubeSpawner uses declared up front (pods, services,
  events, nodes, PVCs, secrets, namespaces, batch/v1 jobs).
- :class:`FakeKubelet` — runs every pod as local processes: "schedules" it (the node its
  affinity names, else the first node), starts its container's ``command + args`` with its env
  on a loopback address of its own (``127.0.0.x``; what the pod binds to ``0.0.0.0`` is bound
  there, as in a pod's network namespace), maps paths under PVC mounts to host directories
  (``claims``; a ``hostPath`` volume is the host's own directory), expands ``$(VAR)`` in the
  command and args from the container's env (as a kubelet does), and patches the pod
  ``Running`` with ``podIP``. Cluster DNS: an env value that names a pod through its headless
  service (``<hostname>.<subdomain>.<namespace>.svc``) is replaced by that pod's address
  (reserved for it if it does not run yet), and a pod whose env names a pod that does not
  exist yet waits in ``Pending``. A process that exits turns the
  pod ``Succeeded``/``Failed`` with a terminated container state; :meth:`FakeKubelet.oom_kill`
  kills it the way the kernel does when a cgroup is out of memory (``OOMKilled``, 137), and a
  process tree whose memory goes over the container's ``limits.memory`` is killed so too. A
  deleted pod's processes are stopped.
- :class:`FakeCluster` — both, on a free port, in the current event loop (``async with``) or in
  a thread of its own (:meth:`FakeCluster.in_thread`, for tests that block on ``requests``),
  with :func:`node_object` nodes and a kubeconfig file for the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import os
import re
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import psutil
import yaml
from kmock import KubernetesEmulator, ResourceInfo, Server, resource
from kmock._internal import enums

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
SERVICES = resource("", "v1", "services")
JOBS = resource("batch", "v1", "jobs")

_DECLARED = {
    ("", "v1", "pods"): "Pod",
    ("", "v1", "services"): "Service",
    ("", "v1", "events"): "Event",
    ("", "v1", "nodes"): "Node",
    ("", "v1", "persistentvolumeclaims"): "PersistentVolumeClaim",
    ("", "v1", "secrets"): "Secret",
    ("", "v1", "namespaces"): "Namespace",
    ("batch", "v1", "jobs"): "Job",
}
_CLUSTER_SCOPED = {"nodes", "namespaces"}
#: a pod's DNS name through its headless service
_POD_DNS = re.compile(
    r"^(?P<host>[a-z0-9-]+)\.(?P<sub>[a-z0-9-]+)\.(?P<ns>[a-z0-9-]+)\.svc(\.cluster\.local)?$"
)
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand_vars(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of a command or argument (``$$`` is a ``$``; an
    unknown variable stays as written)."""

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR_REF.sub(one, text)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dig(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def matches_labels(selector: str, labels: dict[str, str] | None) -> bool:
    """Kubernetes equality-based label selectors: ``a=b,c!=d,e,!f``."""
    labels = labels or {}
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def matches_fields(selector: str, obj: dict) -> bool:
    """Field selectors: ``metadata.name=x,involvedObject.kind!=Pod``."""
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        negate = "!=" in term
        key, value = term.replace("==", "=").split("!=" if negate else "=", 1)
        found = _dig(obj, key.strip())
        if (str(found) if found is not None else "") == value.strip():
            if negate:
                return False
        elif not negate:
            return False
    return True


class FakeApiServer(KubernetesEmulator):
    """kmock's emulator with the fixes kubernetes_asyncio needs (see the module docstring)."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for (group, version, plural), kind in _DECLARED.items():
            key = f"{group}/{version}/{plural}" if group else f"{version}/{plural}"
            self.resources[key] = ResourceInfo(
                kind=kind,
                namespaced=plural not in _CLUSTER_SCOPED,
                verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
            )
        self._versions = itertools.count(1)
        #: set when the server shuts down: ends every watch at once
        self.closing = asyncio.Event()

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if raw_request.rel_url.query.get("watch") in ("True", "1", "yes"):
            url = raw_request.rel_url.update_query(watch="true")
            raw_request = raw_request.clone(rel_url=url)
        return await super().__call__(raw_request)

    def _stamp(self, obj: dict, namespace: str | None) -> None:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = str(next(self._versions))
        if namespace:
            meta["namespace"] = namespace

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if (
            request.resource is not None
            and request.action == enums.action.CREATE
            and isinstance(request.data, dict)
        ):
            self._stamp(request.data, request.namespace)
            kind = request.data.get("kind")
            if kind == "Pod":
                request.data.setdefault("status", {"phase": "Pending"})
            elif kind == "Job":
                request.data.setdefault("status", {})
        return await super()._handle(request)

    def _selected(self, request: kmock.Request, obj: dict) -> bool:
        params = request.params or {}
        return matches_labels(
            params.get("labelSelector", ""), _dig(obj, "metadata.labels")
        ) and matches_fields(params.get("fieldSelector", ""), obj)

    async def _serve_list(self, request: kmock.Request) -> dict:
        listing = await super()._serve_list(request)
        listing["items"] = [o for o in listing["items"] if self._selected(request, o)]
        listing["metadata"] = {"resourceVersion": str(next(self._versions))}
        return listing

    async def _serve_watch(self, request: kmock.Request):
        loop = asyncio.get_running_loop()
        timeout = float((request.params or {}).get("timeoutSeconds") or 0) or 3600.0
        deadline = loop.time() + timeout
        stream = super()._serve_watch(request)
        following: asyncio.Future | None = None
        try:
            while (remaining := deadline - loop.time()) > 0 and not self.closing.is_set():
                following = following or asyncio.ensure_future(anext(stream))
                closing = asyncio.ensure_future(self.closing.wait())
                await asyncio.wait(
                    {following, closing}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                closing.cancel()
                if not following.done():
                    break
                try:
                    item = following.result()
                except StopAsyncIteration:
                    break
                following = None
                if item == b"" or self._selected(request, item.get("object") or {}):
                    yield item
        finally:
            if following is not None:
                following.cancel()
            with contextlib.suppress(BaseException):
                await stream.aclose()

    # -- for the kubelet and the tests ----------------------------------------------------
    def get(self, res: resource, namespace: str | None, name: str) -> dict | None:
        key = (res, namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return self.objects[key].raw

    def items(self, res: resource) -> list[dict]:
        return [o.raw for (r, _, _), o in list(self.objects.items()) if r == res and not o.deleted]

    async def put(self, res: resource, obj: dict) -> None:
        """Create ``obj`` as the API server would (stamped) and tell the watchers."""
        namespace = obj.get("metadata", {}).get("namespace")
        self._stamp(obj, namespace)
        async with self._lock:
            self.objects[res, namespace, obj["metadata"]["name"]] = obj
            await self._buses[res].put({"type": "ADDED", "object": obj})

    async def patch(self, res: resource, namespace: str | None, name: str, changes: dict) -> None:
        """Merge ``changes`` into an object (the status a kubelet reports) and tell watchers."""
        async with self._lock:
            key = (res, namespace, name)
            if key not in self.objects or self.objects[key].deleted:
                return
            changes = {**changes, "metadata": {**changes.get("metadata", {})}}
            changes["metadata"]["resourceVersion"] = str(next(self._versions))
            self.objects[key].patch(changes)
            await self._buses[res].put({"type": "MODIFIED", "object": self.objects[key].raw})


def node_object(name: str, allocatable: dict[str, str] | None = None, arch: str = "amd64") -> dict:
    """A Ready node with ``allocatable`` extended resources (e.g. ``{"nvidia.com/gpu": "2"}``)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/arch": arch},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110", **(allocatable or {})},
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {  # every field: kubernetes_asyncio refuses a node without one
                "architecture": arch,
                "bootID": name,
                "containerRuntimeVersion": "containerd://1.7.24",
                "kernelVersion": "6.1.0",
                "kubeProxyVersion": "v1.31.4",
                "kubeletVersion": "v1.31.4",
                "machineID": name,
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 13",
                "systemUUID": name,
            },
        },
    }


class FakeKubelet:
    """Runs the fake API server's pods as local processes (see the module docstring).

    ``claims`` maps a PVC name to the host directory behind it; ``path`` is put first on the
    ``PATH`` of every container (the "image" is the test's own Python environment).
    """

    def __init__(
        self,
        api: FakeApiServer,
        *,
        claims: dict[str, Path] | None = None,
        path: str | None = None,
        scratch: Path | None = None,
        interval: float = 0.1,
    ):
        self.api = api
        self.claims = {k: Path(v) for k, v in (claims or {}).items()}
        self.path = path or os.path.dirname(sys.executable)
        self.scratch = Path(scratch or Path.cwd() / ".k8s-fake")
        self.interval = interval
        self.procs: dict[tuple[str, str], asyncio.subprocess.Process] = {}
        self.ips: dict[tuple[str, str], str] = {}
        self._oom: set[tuple[str, str]] = set()
        self._uid: dict[tuple[str, str], str] = {}
        self._free_ips = [f"127.0.0.{i}" for i in range(2, 255)]
        #: addresses handed out by cluster DNS to pods that do not run yet
        self._reserved: dict[tuple[str, str], str] = {}
        self._task: asyncio.Task | None = None

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception as e:  # a fake that dies silently hides every later failure
                print(f"fake kubelet: {e!r}", file=sys.stderr)
            await asyncio.sleep(self.interval)

    async def sync(self) -> None:
        pods = {
            (p["metadata"].get("namespace"), p["metadata"]["name"]): p for p in self.api.items(PODS)
        }
        for key in list(self.procs):
            if key not in pods or pods[key]["metadata"].get("uid") != self._uid.get(key):
                await self._kill(key)
        for key in [k for k in self._reserved if k not in pods]:
            self._free_ips.append(self._reserved.pop(key))
        for key, pod in pods.items():
            phase = (pod.get("status") or {}).get("phase", "Pending")
            if key not in self.procs and phase == "Pending" and self._names_resolve(key, pod):
                await self._start(key, pod)
            elif key in self.procs:
                await self._watch(key, pod)

    def _node_of(self, pod: dict) -> str:
        terms = _dig(
            pod,
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ".nodeSelectorTerms",
        )
        for term in terms or []:
            for field in term.get("matchFields") or []:
                if field.get("key") == "metadata.name" and field.get("values"):
                    return field["values"][0]
        nodes = self.api.items(NODES)
        return nodes[0]["metadata"]["name"] if nodes else "fake-node"

    def resolve(self, name: str, own: tuple[tuple[str, str], str] | None = None) -> str | None:
        """The address of the pod that ``name`` names (cluster DNS), None when no pod has that
        name. A pod that does not run yet gets its address reserved now (it takes it when it
        starts), as a record that appears later would give."""
        m = _POD_DNS.match(name)
        if m is None:
            return None
        for pod in self.api.items(PODS):
            meta, spec = pod["metadata"], pod.get("spec") or {}
            key = (meta.get("namespace"), meta["name"])
            found = (spec.get("hostname"), spec.get("subdomain"), key[0])
            if found != (m["host"], m["sub"], m["ns"]):
                continue
            if own is not None and key == own[0]:
                return own[1]
            if key in self.ips:
                return self.ips[key]
            if key not in self._reserved:
                self._reserved[key] = self._free_ips.pop(0)
            return self._reserved[key]
        return None

    def _names_resolve(self, key: tuple[str, str], pod: dict) -> bool:
        for entry in pod["spec"]["containers"][0].get("env") or []:
            value = str(entry.get("value", ""))
            if _POD_DNS.match(value) and self.resolve(value, (key, "self")) is None:
                return False
        return True

    def host_path(self, pod: dict, container: dict, path: str) -> str | None:
        """The host directory behind ``path`` in the container (a PVC mount), else None."""
        volumes = {v["name"]: v for v in _dig(pod, "spec.volumes") or []}
        best = None
        for mount in container.get("volumeMounts") or []:
            mount_path = mount["mountPath"].rstrip("/")
            if path == mount_path or path.startswith(mount_path + "/"):
                if best is None or len(mount_path) > len(best["mountPath"].rstrip("/")):
                    best = mount
        if best is None:
            return None
        volume = volumes.get(best["name"], {})
        claim = _dig(volume, "persistentVolumeClaim.claimName")
        if _dig(volume, "hostPath.path"):
            base = Path(_dig(volume, "hostPath.path"))
        elif claim in self.claims:
            base = self.claims[claim]
        else:
            return None
        root = base / (best.get("subPath") or "")
        rest = path[len(best["mountPath"].rstrip("/")) :].lstrip("/")
        return str(root / rest) if rest else str(root)

    async def _start(self, key: tuple[str, str], pod: dict) -> None:
        container = pod["spec"]["containers"][0]
        ip = self._reserved.pop(key, None) or self._free_ips.pop(0)
        env = {"PATH": f"{self.path}:{os.environ.get('PATH', '')}", "LANG": "C.UTF-8"}
        for entry in container.get("env") or []:
            if "value" in entry:
                value = str(entry["value"]).replace("0.0.0.0", ip)
                if value.startswith("/"):
                    value = self.host_path(pod, container, value) or value
                value = self.resolve(value, (key, ip)) or value
                env[entry["name"]] = value
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        argv = [expand_vars(a.replace("0.0.0.0", ip), env) for a in argv] or ["sleep", "infinity"]
        workdir = container.get("workingDir")
        cwd = (self.host_path(pod, container, workdir) if workdir else None) or str(
            self.scratch / key[1]
        )
        os.makedirs(cwd, exist_ok=True)
        node = self._node_of(pod)
        proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd, start_new_session=True)
        self.procs[key], self.ips[key], self._uid[key] = proc, ip, pod["metadata"]["uid"]
        await self.api.patch(
            PODS,
            *key,
            {
                "spec": {"nodeName": node},
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "hostIP": ip,
                    "startTime": _now(),
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {
                            "name": container["name"],
                            "ready": True,
                            "started": True,
                            "restartCount": 0,
                            "image": container.get("image", ""),
                            "imageID": container.get("image", ""),
                            "containerID": f"containerd://{proc.pid:064x}",
                            "state": {"running": {"startedAt": _now()}},
                        }
                    ],
                },
            },
        )

    def _memory(self, pid: int) -> int:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    async def _watch(self, key: tuple[str, str], pod: dict) -> None:
        proc = self.procs[key]
        container = pod["spec"]["containers"][0]
        if proc.returncode is None:
            limit = _dig(container, "resources.limits.memory")
            if limit and self._memory(proc.pid) > _bytes(limit):
                self.oom_kill(*key)
            return
        if (pod.get("status") or {}).get("phase") != "Running":
            return
        code = proc.returncode
        oom = key in self._oom
        exit_code = 137 if oom else (128 - code if code < 0 else code)
        reason = "OOMKilled" if oom else ("Completed" if exit_code == 0 else "Error")
        await self.api.patch(
            PODS,
            *key,
            {
                "status": {
                    "phase": "Succeeded" if exit_code == 0 else "Failed",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                        {
                            "name": container["name"],
                            "ready": False,
                            "started": False,
                            "restartCount": 0,
                            "image": container.get("image", ""),
                            "imageID": container.get("image", ""),
                            "state": {
                                "terminated": {
                                    "exitCode": exit_code,
                                    "reason": reason,
                                    "finishedAt": _now(),
                                }
                            },
                        }
                    ],
                }
            },
        )

    def oom_kill(self, namespace: str, name: str) -> None:
        """Kill a pod's processes as the kernel does at its cgroup's memory limit."""
        key = (namespace, name)
        self._oom.add(key)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[key].pid, signal.SIGKILL)

    async def _kill(self, key: tuple[str, str]) -> None:
        proc = self.procs.pop(key)
        self._free_ips.append(self.ips.pop(key))
        self._oom.discard(key)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    async def stop_all(self) -> None:
        for key in list(self.procs):
            await self._kill(key)


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}


def _bytes(quantity: str | int) -> int:
    text = str(quantity)
    for unit, factor in _UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(float(text))


def write_kubeconfig(path: Path, url: str, namespace: str = "default") -> Path:
    """A kubeconfig that points kubernetes_asyncio (hub, service, tests) at ``url``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
        ],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class FakeCluster:
    """The fake API server plus kubelet on a free port, with nodes and a kubeconfig.

    ``async with FakeCluster(tmp, nodes=[...]) as cluster:`` runs in the current loop;
    ``with FakeCluster(tmp).in_thread() as cluster:`` runs it in a thread (blocking tests).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: list[dict] | None = None,
        claims: dict[str, Path] | None = None,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api = FakeApiServer()
        self.nodes = nodes or []
        self.kubelet = FakeKubelet(self.api, claims=claims, scratch=self.workdir / "pods")
        self._server: Server | None = None
        self._task: asyncio.Task | None = None
        self.url = ""
        self.kubeconfig = self.workdir / "kubeconfig"
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> FakeCluster:
        await self.api.__aenter__()
        self._server = Server(self.api)
        await self._server.__aenter__()
        self.url = f"http://127.0.0.1:{self._server.port}"
        for node in self.nodes:
            await self.api.put(NODES, node)
        write_kubeconfig(self.kubeconfig, self.url)
        self.loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self.kubelet.run())
        return self

    async def __aexit__(self, *exc) -> None:
        self.api.closing.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.kubelet.stop_all()
        await self._server.__aexit__(None, None, None)
        await self.api.__aexit__(None, None, None)

    def point_clients_here(self, monkeypatch) -> None:
        """Make this process's kubernetes_asyncio (and so kubespawner) load our kubeconfig
        (it reads ``$KUBECONFIG`` once, at import)."""
        from kubernetes_asyncio.config import kube_config
        from kubespawner.clients import load_config

        monkeypatch.setenv("KUBECONFIG", str(self.kubeconfig))
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(self.kubeconfig))
        # kubespawner loads the configuration once per host (an lru_cache) and sets it as
        # the default of every later client: a test whose cluster got the port of an earlier
        # one's would otherwise keep that earlier (closed) cluster's configuration
        load_config.cache_clear()
        # aiohttp's aiodns resolver closes through a pycares thread that can hang a closing
        # loop; the clients of a test use the plain threaded one
        import aiohttp.connector
        import aiohttp.resolver

        monkeypatch.setattr(aiohttp.connector, "DefaultResolver", aiohttp.resolver.ThreadedResolver)

    @staticmethod
    async def close_clients() -> None:
        """Close kubespawner's shared clients of this loop (before the loop closes)."""
        from kubespawner import clients

        loop = asyncio.get_running_loop()
        for key in [k for k in list(clients._client_cache) if k[0] is loop]:
            client = clients._client_cache.pop(key, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.api_client.close(), 10)

    # -- from other threads ---------------------------------------------------------------
    @contextlib.contextmanager
    def in_thread(self):
        ready = threading.Event()
        stop: dict[str, Any] = {}

        async def main():
            async with self:
                stop["event"] = asyncio.Event()
                ready.set()
                await stop["event"].wait()

        def target():
            try:
                asyncio.run(main())
            finally:
                ready.set()

        thread = threading.Thread(target=target, name="k8s-fake", daemon=True)
        thread.start()
        ready.wait(30)
        if "event" not in stop:
            raise RuntimeError("the fake Kubernetes did not start")
        try:
            yield self
        finally:
            self.loop.call_soon_threadsafe(stop["event"].set)
            thread.join(30)

    def call(self, coro_fn, *args, timeout: float = 30):
        """Run ``coro_fn(*args)`` in the cluster's loop from a blocking test; its result."""
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self.loop).result(timeout)

    def pods(self, label_selector: str = "") -> list[dict]:
        return [
            p
            for p in self.api.items(PODS)
            if matches_labels(label_selector, p["metadata"].get("labels"))
        ]
