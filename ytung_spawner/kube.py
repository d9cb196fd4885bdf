"""``YtungKubeSpawner``: workloads as Kubernetes pods (runtime ``kubernetes``).

KubeSpawner with the Ytung admission mixin; the pod details (device limits, node pinning,
V6 resource floors and ceilings) come with the workloads issue.
"""

from kubespawner import KubeSpawner

from .mixin import YtungSpawnerMixin


class YtungKubeSpawner(YtungSpawnerMixin, KubeSpawner):
    pass
