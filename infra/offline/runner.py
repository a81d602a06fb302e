"""Run a Pulumi program offline, the way the Python language host runs it, and record its graph.

The language host changes into the program directory (``main`` in Pulumi.yaml), passes the stack's
config, and executes the directory with ``runpy.run_path('.', run_name='__main__')`` inside
``pulumi.runtime.run_in_stack``. This does the same, with a recording mock monitor in place of the
engine and ``preview=False`` so every output resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import os
import runpy
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import empty_pb2
from pulumi import resource as pulumi_resource
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockEngine, MockSettings
from pulumi.runtime.proto import source_pb2

from mlops_platform.components.support import files
from mlops_platform.components.support.validation import InvalidArgs
from mlops_platform.infra.offline.mocks import OfflineInvokeError, OfflineMocks
from mlops_platform.infra.offline.monitor import RecordingMonitor, Registration
from mlops_platform.infra.offline.values import masked
from mlops_platform.policies.graph import Graph, Resource

ORGANIZATION = "organization"


class SynthError(Exception):
    """The program could not be synthesized; ``exit_code`` is 2 for bad input, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
        self.registered: list[str] = []
        """URNs registered before the failure; bad config must leave this empty."""


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    main_dir: Path
    stack_config_dir: Path
    declarations: dict[str, Any]

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml")
        )


@dataclass
class SynthResult:
    graph: Graph
    registrations: list[Registration]
    """Raw requests, secrets still wrapped: tests use them to prove secrets never appear in clear."""
    stack_outputs: dict[str, Any]
    diagnostics: list[tuple[str, str]]


def load_project(root: Path) -> Project:
    path = root / "Pulumi.yaml"
    if not path.exists():
        raise SynthError(f"no Pulumi.yaml in {root}; run from the project root", 2)
    doc = _read_yaml(path, "project")
    if not isinstance(doc, dict) or "name" not in doc:
        raise SynthError(f"{path}: not a Pulumi project file (no 'name')", 2)
    return Project(
        root=root,
        name=str(doc["name"]),
        main_dir=(root / str(doc.get("main") or ".")).resolve(),
        stack_config_dir=(root / str(doc.get("stackConfigDir") or ".")).resolve(),
        declarations=dict(doc.get("config") or {}),
    )


def load_stack_config(project: Project, stack: str) -> dict[str, Any]:
    """The stack's config as the CLI would pass it: stack values, then project defaults."""
    path = project.stack_file(stack)
    if not path.exists():
        known = ", ".join(project.stacks()) or "none"
        raise SynthError(f"unknown stack {stack!r}: {path} does not exist (known stacks: {known})", 2)
    doc = _read_yaml(path, "stack") or {}
    if not isinstance(doc, dict):
        raise SynthError(f"{path}: expected a mapping with a 'config' key (got {type(doc).__name__})", 2)
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise SynthError(
            f"{path}: 'config' must be a mapping of keys to values, like 'aws:region: us-east-1' "
            f"(got {type(config).__name__})",
            2,
        )
    config = dict(config)
    for key, declaration in project.declarations.items():
        full = key if ":" in key else f"{project.name}:{key}"
        if full not in config and isinstance(declaration, dict) and "default" in declaration:
            config[full] = declaration["default"]
    return config


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return files.read_yaml(path, what)
    except files.FileInputError as exc:
        raise SynthError(str(exc), 2) from exc


def _engine_value(value: Any) -> str:
    """The CLI hands every config value to the program as a string; structured values as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class _InlineLoop(asyncio.SelectorEventLoop):
    """Runs monitor calls inline instead of on a thread pool.

    The SDK sends each registration through ``run_in_executor``; with threads, their arrival order
    at the monitor varies from run to run. Inline, the order is the program's, and the graph is
    byte-identical across runs.
    """

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # handed to the awaiting coroutine, as a thread pool would
            future.set_exception(exc)
        return future


class _Diagnostics(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname.lower(), record.getMessage()))


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """The SDK extracts the Python stack (every frame, with its source line) at each registration, for
    the engine to point errors at the program's line. The offline monitor has no use for it, and it
    cost a tenth of synthesis at 100 models (docs/performance.md), so an offline run sends an empty
    trace instead."""
    original = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = source_pb2.StackTrace  # type: ignore[assignment]
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original  # type: ignore[assignment]


@contextlib.contextmanager
def _construction_order(project: str, stack: str) -> Iterator[dict[str, tuple[int, type]]]:
    """URN -> the order in which the program constructed the resource.

    Registration requests reach the monitor only after each resource's inputs resolve, and the SDK
    awaits dependencies through sets whose order varies with the hash seed. Construction order is the
    program's own order, so the graph lists resources in it. The SDK offers no hook for this, so the
    registration entry point is wrapped for the duration of one offline run.
    """
    order: dict[str, tuple[int, type]] = {}
    original = pulumi_resource.register_resource

    def recording(
        res: Any,
        t: str,
        name: str,
        custom: bool,
        remote: bool,
        new_dependency: Any,
        props: Any,
        opts: Any,
        *rest: Any,
        **kwargs: Any,
    ) -> Any:
        parent = opts.parent if opts is not None and opts.parent is not None else None
        if parent is None and t != "pulumi:pulumi:Stack":
            parent = runtime_settings.get_root_resource()
        qualified = f"{parent._type}${t}" if parent is not None else t
        order.setdefault(f"urn:pulumi:{stack}::{project}::{qualified}::{name}", (len(order), type(res)))
        return original(res, t, name, custom, remote, new_dependency, props, opts, *rest, **kwargs)

    pulumi_resource.register_resource = recording  # type: ignore[assignment]
    try:
        yield order
    finally:
        pulumi_resource.register_resource = original  # type: ignore[assignment]


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_program(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any],
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    working_dir: Path | None = None,
) -> SynthResult:
    """Run ``program`` inside a root stack under the recording monitor and return what it registered."""
    region = str(config.get("aws:region") or "us-east-1")
    monitor = RecordingMonitor(OfflineMocks(region=region, stack_outputs=stack_outputs))
    diagnostics = _Diagnostics()
    logger = logging.getLogger(f"mlops.offline.{id(monitor)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(diagnostics)
    settings = MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        engine=MockEngine(logger),
        project=project,
        stack=stack,
        dry_run=False,
        organization=ORGANIZATION,
        callbacks=None,
    )
    runtime_settings.configure(settings)
    runtime_settings.set_root_resource(None)  # type: ignore[arg-type]
    secret_keys = [k for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"}]
    pulumi.runtime.set_all_config(
        {k: ("[secret]" if k in secret_keys else _engine_value(v)) for k, v in config.items()}, secret_keys
    )
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    loop = _InlineLoop()
    asyncio.set_event_loop(loop)
    # The SDK allocates many short-lived reference cycles (futures, tasks); full collections over the
    # growing graph made synthesis time grow faster than the number of resources. A run is short and
    # bounded, so collection waits until it ends (benchmarks/synth_scaling.py measures both effects).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with (
            _working_directory(working_dir or Path.cwd()),
            _without_source_positions(),
            _construction_order(project, stack) as order,
        ):
            loop.run_until_complete(pulumi.runtime.run_in_stack(program))
    except Exception as exc:
        error = _synth_error(exc)
        error.registered = [r.urn for r in monitor.registrations]
        raise error from exc
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        logger.removeHandler(diagnostics)
        if collecting:
            gc.enable()
    unknown = (len(order), None)
    registrations = sorted(monitor.registrations, key=lambda r: order.get(r.urn, unknown)[0])
    for registration in registrations:
        registration.resource_class = order.get(registration.urn, unknown)[1]
    graph = Graph(
        project=project,
        stack=stack,
        resources=[_graph_resource(r) for r in registrations],
        outputs=masked(monitor.stack_outputs),
    )
    return SynthResult(graph, registrations, monitor.stack_outputs, diagnostics.records)


def _synth_error(exc: Exception) -> SynthError:
    if isinstance(exc, SynthError):
        return exc
    if isinstance(exc, pulumi.RunError):  # ConfigError is one: bad input, reported without a traceback
        return SynthError(str(exc), getattr(exc, "exit_code", 2))
    if isinstance(exc, InvalidArgs):
        return SynthError(str(exc), 2)
    if isinstance(exc, OfflineInvokeError):
        return SynthError(str(exc), 1)
    # A bug in the program, reported as `pulumi up` would: with its traceback.
    trace = "".join(traceback.format_exception(exc))
    return SynthError(f"the program failed with an unhandled exception:\n{trace}", 1)


def _graph_resource(reg: Registration) -> Resource:
    """The graph's view of a registration: the resource's own fields, secrets masked."""
    values = {f.name: getattr(reg, f.name) for f in dataclasses.fields(Resource)}
    return Resource(**{**values, "inputs": masked(reg.inputs)})


def synthesize(
    stack: str,
    project_dir: Path | None = None,
    *,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> SynthResult:
    """Synthesize one stack of the project at ``project_dir`` (default: the current directory)."""
    project = load_project((project_dir or Path.cwd()).resolve())
    config = load_stack_config(project, stack)
    config.update(config_overrides or {})
    if not (project.main_dir / "__main__.py").exists():
        raise SynthError(f"{project.main_dir}/__main__.py not found (Pulumi.yaml main: points there)", 2)

    def program() -> None:
        # Importers are cached by path string; "." must resolve against this project's directory.
        sys.path_importer_cache.pop(".", None)
        runpy.run_path(".", run_name="__main__")

    return run_program(
        program,
        project=project.name,
        stack=stack,
        config=config,
        stack_outputs=stack_outputs,
        working_dir=project.main_dir,
    )
