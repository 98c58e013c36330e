"""Per-process resources: a client, a connection pool, a compiled model — created once,
on first use, reused by every invocation after, closed when the process stops. The cached
``boto3`` global every Lambda guide recommends, done once for everyone::

    @app.resource
    def s3() -> S3Client:
        return boto3.client("s3")

    @app.resource(prewarm=True)             # created at start, before the first request
    async def pool() -> AsyncIterator[Pool]:
        pool = await create_pool()
        yield pool                          # what follows runs at shutdown
        await pool.close()

    @app.get("/files/{key}")
    async def get_file(key: str, s3: S3Client) -> dict[str, str]:   # by name or by type
        ...

A handler of any kind receives a resource by naming a parameter after it or annotating it
with the factory's return type; ``await ctx.resource("s3")`` works everywhere (saga steps
too). A factory may be sync or async, a plain function (an object with ``aclose()`` or
``close()`` is closed at shutdown) or a generator (the code after its ``yield`` closes it).
``faaskit dev --prewarm`` creates them all at start — the local analogue of provisioned
concurrency.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import typing
from collections.abc import Callable, Mapping
from typing import Any

from faaskit.errors import ConfigurationError

__all__ = ["ResourceSpec", "Resources", "resource_for"]

logger = logging.getLogger("faaskit.resources")


class ResourceSpec:
    """A declared resource: its name, its factory and whether it is created at start."""

    __slots__ = ("factory", "name", "prewarm", "type")

    def __init__(self, name: str, factory: Callable[[], Any], prewarm: bool) -> None:
        if not name.isidentifier():
            raise ConfigurationError(f"resource {name!r}: use a Python identifier")
        if inspect.signature(factory).parameters:
            raise ConfigurationError(f"resource {name!r}: its factory takes no parameters")
        self.name = name
        self.factory = factory
        self.prewarm = prewarm
        try:
            returned = typing.get_type_hints(factory).get("return")
        except Exception:  # an annotation that does not resolve: matched by name only
            returned = None
        self.type = _yielded(returned)
        """What the factory makes (its return annotation, or what a generator yields)."""


def _yielded(annotation: Any) -> Any:
    """``Pool`` for ``Iterator[Pool]``, ``AsyncIterator[Pool]``, ``Generator[Pool, ...]``."""
    origin = typing.get_origin(annotation)
    names = ("Iterator", "AsyncIterator", "Generator", "AsyncGenerator")
    if origin is not None and getattr(origin, "__name__", "") in names:
        args = typing.get_args(annotation)
        return args[0] if args else None
    return annotation if isinstance(annotation, type) else None


_MISSING = object()


class Resources:
    """The resources of one runtime (one process): created on first use, once."""

    def __init__(self, specs: dict[str, ResourceSpec]) -> None:
        self.specs = specs
        self.values: dict[str, Any] = {}
        self.created_seconds: dict[str, float] = {}
        """How long each resource took to create (the metrics and the records use it)."""
        self._closers: list[tuple[str, Callable[[], Any]]] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def named(self, name: str) -> ResourceSpec:
        spec = self.specs.get(name)
        if spec is None:
            known = ", ".join(sorted(self.specs)) or "none declared"
            raise ConfigurationError(f"no resource {name!r} (resources: {known})")
        return spec

    def ready(self, name: str) -> Any:
        """The resource if it is created already, else ``_MISSING`` (no await needed)."""
        return self.values.get(name, _MISSING)

    async def get(self, name: str) -> Any:
        """The resource ``name``, created now if it is the first use in this process
        (concurrent first uses wait for one creation)."""
        value = self.values.get(name, _MISSING)
        if value is not _MISSING:
            return value
        spec = self.named(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            value = self.values.get(name, _MISSING)
            if value is _MISSING:
                value = await self._create(spec)
        return value

    async def _create(self, spec: ResourceSpec) -> Any:
        started = time.perf_counter()
        made = spec.factory()
        if inspect.isasyncgen(made):
            generator = made
            value = await generator.__anext__()
            self._closers.append((spec.name, lambda: _finish_async(generator)))
        elif inspect.isgenerator(made):
            sync_generator = made
            value = next(sync_generator)
            self._closers.append((spec.name, lambda: _finish(sync_generator)))
        else:
            value = await made if inspect.isawaitable(made) else made
            close = getattr(value, "aclose", None) or getattr(value, "close", None)
            if callable(close):
                self._closers.append((spec.name, close))
        self.values[spec.name] = value
        self.created_seconds[spec.name] = time.perf_counter() - started
        logger.debug(
            "resource %s created in %.1f ms",
            spec.name,
            self.created_seconds[spec.name] * 1000,
        )
        return value

    async def prewarm(self, names: list[str] | None = None) -> None:
        """Create ``names`` (every resource declared ``prewarm=True`` when None) now."""
        wanted = names if names is not None else [n for n, s in self.specs.items() if s.prewarm]
        for name in wanted:
            await self.get(name)

    async def close(self) -> None:
        """Close what was created, the last created first; a failing close is logged."""
        closers, self._closers = self._closers, []
        for name, close in reversed(closers):
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.warning("closing resource %s failed", name, exc_info=True)
        self.values.clear()


def resource_for(
    specs: Mapping[str, ResourceSpec], parameter: inspect.Parameter, annotation: Any
) -> str | None:
    """The resource a handler's parameter asks for: named after it, or annotated with its
    type; None when it asks for none."""
    if parameter.name in specs:
        return parameter.name
    if isinstance(annotation, type):
        for spec in specs.values():
            if spec.type is not None and spec.type is annotation:
                return spec.name
    return None


def _finish(generator: Any) -> None:
    try:
        next(generator)
    except StopIteration:
        return
    raise ConfigurationError("a resource generator must yield once")


async def _finish_async(generator: Any) -> None:
    try:
        await generator.__anext__()
    except StopAsyncIteration:
        return
    raise ConfigurationError("a resource generator must yield once")
