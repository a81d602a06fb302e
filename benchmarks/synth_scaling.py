"""Benchmark: how offline synthesis of prod scales with the number of models.

For N models (every other one on a GPU, each with a canary walked by steps, a shadow, one A/B rule
and a batch scoring job) and 20 training pipelines (two per team), synthesize the prod stack and
record the resources, the wall time of the synthesis and the peak RSS of the process.

The floor is a bare program on the same mock runtime that registers the same resources through
their own typed constructors: the same types, names and input values, as literals, flat under the
stack (component resources as empty ComponentResources), with no Outputs, no dependencies and no
validation. Pulumi's SDK spends most of its time
serializing inputs, so a floor of empty resources would measure input size, not the program; this
one leaves exactly what the platform program adds on top of registering what it registers.

    python benchmarks/synth_scaling.py                 # N = 1, 25, 100, 200; markdown table
    python benchmarks/synth_scaling.py --counts 1 100  # other sizes

Each measurement runs in a fresh interpreter (imports done before the clock starts), so peak RSS
belongs to that N alone. Goals: ratio <= 1.3 at N=100; time(200) <= 2.2 x time(100).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTS = (1, 25, 100, 200)


def _digest(i: int, version: int) -> str:
    return f"sha256:{(f'{i:04d}{version}' * 13)[:64]}"


def models(count: int) -> list[dict]:
    result = []
    for i in range(count):
        gpu = i % 2 == 1
        result.append(
            {
                "name": f"model-{i:03d}",
                "team": f"team-{i % 10}",
                "stable": {"name": "v1", "imageTag": "1.0.0", "imageDigest": _digest(i, 1)},
                "canary": {
                    "name": "v2",
                    "imageTag": "2.0.0",
                    "imageDigest": _digest(i, 2),
                    "steps": [10, 50, 100],
                },
                "shadow": {
                    "version": {"name": "v3", "imageTag": "3.0.0", "imageDigest": _digest(i, 3)},
                    "percent": 10,
                    "paths": ["/predict"],
                },
                "abTests": [{"header": "x-cohort", "value": "b", "version": "v2"}],
                "resources": {"cpu": "2", "memory": "8Gi", "gpus": 1, "gpuPool": "gpu-baseline"}
                if gpu
                else {"cpu": "1", "memory": "2Gi"},
                # A GPU model fits gpu-baseline (6 GPUs): 3 stable, 2 canary at 50%, 1 shadow.
                "replicas": {"min": 2, "max": 3},
                "slo": {"availabilityTarget": 99.9, "latencyP95Ms": 250},
                "batch": {
                    "inputPrefix": f"datasets/team-{i % 10}/model-{i:03d}/",
                    "outputPrefix": f"scores/team-{i % 10}/model-{i:03d}/",
                    "command": ["python", "-m", "batch"],
                    "shards": 4,
                    "schedule": "0 2 * * *",
                },
            }
        )
    return result


PIPELINES = 20


def teams(count: int) -> list[dict]:
    """The models' teams, with PIPELINES training pipelines spread over them."""
    names = sorted({f"team-{i % 10}" for i in range(count)}) or ["team-0"]
    pipelines: dict[str, list[dict]] = {name: [] for name in names}
    for p in range(PIPELINES):
        team = names[p % len(names)]
        pipelines[team].append(
            {
                "name": f"train-{p:02d}",
                "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{team}/trainer:1.0.{p}",
                "registeredModel": f"model-{p:03d}",
                "dataPrefixes": [f"datasets/{team}/train-{p:02d}/"],
                "train": {"command": ["python", "-m", "train"], "pool": "gpu-burst"},
                "evaluate": {"metric": "auc", "threshold": 0.9},
                "mlflowSecret": "mlflow-risk",
                "schedule": "0 3 * * 1",
            }
        )
    return [{"name": name, "quota": {"gpus": 4}, "pipelines": pipelines[name]} for name in names]


def overrides(count: int) -> dict:
    """The prod stack with ``count`` generated models (and no traffic assumptions for its own), and
    node pools large enough for their minimum replicas (the cost model refuses a stack whose pools
    cannot hold them)."""
    import yaml

    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    pools = [
        {**pool, "maxSize": max(pool["maxSize"], 6 * count)} for pool in config["mlops-platform:gpuNodePools"]
    ]
    return {
        "mlops-platform:models": models(count),
        "mlops-platform:teams": teams(count),
        "mlops-platform:costAssumptions": {},
        "mlops-platform:gpuNodePools": pools,
        "mlops-platform:systemNodes": {"maxSize": max(6, count)},
    }


def child_program(count: int, replay_file: str) -> dict:
    from mlops_platform.infra.offline.runner import synthesize
    from mlops_platform.infra.offline.values import unwrap

    # Warm up (module imports and first-use caches), so the clock measures synthesis alone.
    synthesize("prod", ROOT, config_overrides=overrides(1))
    start = time.perf_counter()
    result = synthesize("prod", ROOT, config_overrides=overrides(count))
    seconds = time.perf_counter() - start
    Path(replay_file).write_text(
        json.dumps(
            [
                (r.type, r.name, r.custom, _class_path(r.resource_class), unwrap(r.inputs))
                for r in result.registrations
            ]
        )
    )
    return {"resources": len(result.graph.resources), "seconds": seconds, "peak_rss_mib": _peak_rss_mib()}


def _class_path(cls: type | None) -> str | None:
    return f"{cls.__module__}:{cls.__qualname__}" if cls is not None else None


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _load_class(path: str | None) -> type | None:
    if path is None:
        return None
    module, _, qualname = path.partition(":")
    return getattr(importlib.import_module(module), qualname)


def child_floor(replay_file: str) -> dict:
    import pulumi

    from mlops_platform.infra.offline.runner import run_program

    recorded = json.loads(Path(replay_file).read_text())
    classes = {path: _load_class(path) for _, _, _, path, _ in recorded}

    def program() -> None:
        for i, (resource_type, name, custom, class_path, inputs) in enumerate(recorded):
            if not custom:
                pulumi.ComponentResource(resource_type, f"{name}-{i}")
                continue
            # The same typed class through its own constructor, so Pulumi's per-resource work (typed
            # outputs, serialization; run_program skips source positions for both) is in the floor
            # too; but the inputs are literals, with no parent, no dependency and no Output to wait for.
            cls = classes[class_path]
            try:
                cls(f"{name}-{i}", **{_snake(key): value for key, value in inputs.items()})
            except (TypeError, ValueError, AttributeError):
                pulumi.CustomResource(resource_type, f"{name}-{i}", inputs)

    config = {"aws:region": "us-east-1"}
    run_program(
        lambda: pulumi.CustomResource("bench:index:Warm", "warm", {}),
        project="bench",
        stack="floor",
        config=config,
    )
    start = time.perf_counter()
    run_program(program, project="bench", stack="floor", config=config)
    return {
        "resources": len(recorded),
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def run_child(*child_args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *child_args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS), help="numbers of models")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; medians are reported (default 5)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "program":
            print(json.dumps(child_program(int(args.child[1]), args.child[2])))
        else:
            print(json.dumps(child_floor(args.child[1])))
        return 0

    # Rounds interleave every size and its floor, so a slow spell of a shared machine hits program
    # and floor alike instead of one size; each figure is the median over the rounds.
    samples: dict[int, list[tuple[dict, dict]]] = {count: [] for count in args.counts}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeat):
            for count in args.counts:
                replay = str(Path(scratch) / f"replay-{count}.json")
                program = run_child("program", str(count), replay)
                samples[count].append((program, run_child("floor", replay)))
    print(
        "| models | resources | synth time (s) | synth range (s) | peak RSS (MiB) | floor time (s) "
        "| floor RSS (MiB) | ratio |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    medians = {}
    for count, pairs in samples.items():
        synth = [p["seconds"] for p, _ in pairs]
        floor = [f["seconds"] for _, f in pairs]
        medians[count] = statistics.median(synth)
        ratio = statistics.median(p["seconds"] / f["seconds"] for p, f in pairs)
        print(
            f"| {count} | {pairs[0][0]['resources']} | {medians[count]:.2f} | {min(synth):.2f}-{max(synth):.2f} "
            f"| {max(p['peak_rss_mib'] for p, _ in pairs):.0f} | {statistics.median(floor):.2f} "
            f"| {max(f['peak_rss_mib'] for _, f in pairs):.0f} | {ratio:.2f} |"
        )
    if 100 in medians and 200 in medians:
        print(
            f"\ntime(200) / time(100) = {medians[200] / medians[100]:.2f} (medians over {args.repeat} rounds)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
