"""Ytung's spawners: the shared admission mixin, ``YtungLocalSpawner`` and ``YtungKubeSpawner``.

Light on import: the Kubernetes spawner (and kubespawner) load only when asked for.
"""

__all__ = ["YtungKubeSpawner", "YtungLocalSpawner", "YtungSpawnerMixin"]


def __getattr__(name):
    if name == "YtungLocalSpawner":
        from .local import YtungLocalSpawner

        return YtungLocalSpawner
    if name == "YtungKubeSpawner":
        from .kube import YtungKubeSpawner

        return YtungKubeSpawner
    if name == "YtungSpawnerMixin":
        from .mixin import YtungSpawnerMixin

        return YtungSpawnerMixin
    raise AttributeError(name)
