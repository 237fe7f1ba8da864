"""The Python API of local registries (kindlike.registry):

    import kindlike

    reg = kindlike.LocalRegistry.ensure("dev")          # made when missing
    ref = reg.push("myapp:dev")                          # -> "localhost:5000/myapp:dev"
    with kindlike.Cluster.create("demo", registry="dev") as c:
        c.kubectl("create", "deployment", "app", f"--image={ref}")
    reg.delete()

`address` is where the host pushes (`docker push {address}/app:tag`) and
what a pod spec names; `connect(cluster)` lets a running cluster pull from
it, as `create(..., registry=NAME)` does at create.
"""
from __future__ import annotations

from kindlike import registry as _reg
from kindlike.engines.base import Engine
from kindlike.engines.detect import get_engine
from kindlike.registryconnect import connect


def registries(provider: str | None = None, *, engine: Engine | None = None) -> list[str]:
    """The names of the registries in the engine."""
    return [r.name for r in _with_engine(provider, engine, lambda e: _reg.list_registries(e))]


def _with_engine(provider, engine, fn):
    own = engine is None
    engine = engine or get_engine(provider)
    try:
        return fn(engine)
    finally:
        if own:
            engine.close()


class LocalRegistry:
    """A local registry: `create`, `get` or `ensure` one; the engine
    connection is opened per call (a handle holds nothing open)."""

    def __init__(self, name: str, *, provider: str | None = None, engine: Engine | None = None):
        self.name = name
        self._provider = provider
        self._engine = engine
        self.created = False  # True when this handle's create/ensure made it

    def _call(self, fn):
        return _with_engine(self._provider, self._engine, fn)

    @classmethod
    def create(cls, name: str = _reg.DEFAULT_NAME, *, port: int | None = None, provider: str | None = None,
               engine: Engine | None = None) -> "LocalRegistry":
        """A new registry on 127.0.0.1:port (None: 5000 when free, else a
        free one); RegistryError when it exists."""
        self = cls(name, provider=provider, engine=engine)
        self._call(lambda e: _reg.create(e, name, port))
        self.created = True
        return self

    @classmethod
    def get(cls, name: str = _reg.DEFAULT_NAME, *, provider: str | None = None,
            engine: Engine | None = None) -> "LocalRegistry":
        self = cls(name, provider=provider, engine=engine)
        self._call(lambda e: _reg.get(e, name))
        return self

    @classmethod
    def ensure(cls, name: str = _reg.DEFAULT_NAME, *, port: int | None = None, provider: str | None = None,
               engine: Engine | None = None) -> "LocalRegistry":
        """The registry, created when missing (`created` says which)."""
        self = cls(name, provider=provider, engine=engine)
        if name not in self._call(lambda e: [r.name for r in _reg.list_registries(e)]):
            self._call(lambda e: _reg.create(e, name, port))
            self.created = True
        return self

    @property
    def info(self) -> _reg.Registry:
        return self._call(lambda e: _reg.get(e, self.name))

    @property
    def address(self) -> str:
        """Where to push from the host, and what pods name: localhost:PORT."""
        return self.info.address

    @property
    def port(self) -> int:
        return self.info.port

    def push(self, image: str, as_name: str | None = None) -> str:
        """Push an image of the engine's store (as_name: the path and tag in
        the registry; default the image's own name without its registry);
        returns the reference a pod spec names."""
        def push(e: Engine) -> str:
            reg = _reg.get(e, self.name)
            path = as_name or _strip_registry(image)
            ref = f"{reg.address}/{path}"
            if ref != image:
                e.tag_image(image, ref)
            e.push_image(ref)
            return ref

        return self._call(push)

    def connect(self, cluster) -> None:
        """Let a running cluster (a name or a kindlike.Cluster) pull from it."""
        self._call(lambda e: connect(e, self.name, getattr(cluster, "name", cluster)))

    def delete(self) -> bool:
        """Remove it with its data volume; False when it was not there."""
        return self._call(lambda e: _reg.delete(e, self.name))

    def __repr__(self) -> str:
        return f"<kindlike.LocalRegistry {self.name!r}>"


def _strip_registry(image: str) -> str:
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return image
