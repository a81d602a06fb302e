"""Benchmark: render every Helm release of the three stacks with the real Helm engine and validate
everything rendered (tests/helm_render.py: values keys, values.schema.json, kubernetes-validate strict,
custom resources against their vendored CRDs). Needs the dev extra.

    python benchmarks/helm_render.py            # markdown table: per stack and in total

Synthesis is done first and not timed; the clock covers loading the vendored charts, rendering and
validating, in one process as the test suite runs it. Goal: all three stacks in under 60 s on 2 cores.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import STACKS, stack  # noqa: E402
from tests.helm_render import RELEASE, check_stack  # noqa: E402


def main() -> int:
    graphs = {name: stack(name).graph for name in STACKS}
    print("| stack | releases | objects | custom resources | problems | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    total = time.perf_counter()
    for name, graph in graphs.items():
        start = time.perf_counter()
        report = check_stack(graph)
        seconds = time.perf_counter() - start
        releases = len(graph.of_type(RELEASE))
        print(
            f"| {name} | {releases} | {len(report.objects)} | {report.custom_resources} | {len(report.problems)} | {seconds:.1f} |"
        )
    elapsed = time.perf_counter() - total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| all three | | | | | {elapsed:.1f} |")
    print(f"\npeak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
