"""The jail's cost: one ``execute_bash`` call through bubblewrap against the same command without it.

    .venv/bin/python bench/bench_coding.py [--calls 50] [--json bench/results-coding.json]

Both sides go through the same entry point, ``ExecuteBash.execute`` (the asyncio runner:
its own session, output capped, group killed at the end), with the same limits (prlimit):

* jailed: ``tools.coding.jail: bubblewrap``, network off (for a root bot: nobody via setpriv);
* baseline: ``tools.coding.jail: none``, the same command run by bash directly.

Commands: ``true`` (the fixed cost) and ``python3 -c 'print(sum(range(10**6)))'`` (a small
real job). The calls alternate jailed/unjailed so drift on a shared machine hits both
sides; the figure is the median of N calls each, and the ratio jailed/unjailed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from framework.coding import build_coding, jail_owner  # noqa: E402
from framework.coding.bash import ExecuteBash  # noqa: E402
from framework.config.coding import CodingConfig  # noqa: E402

COMMANDS = {"true": "true", "python_sum": "python3 -c 'print(sum(range(10**6)))'"}


def tool(workspace: Path, jail: str) -> ExecuteBash:
    parts = build_coding(CodingConfig(bash=True, jail=jail), workspace, master_id="1" * 18, owner=jail_owner(),
                         sink=lambda call: None)
    assert parts is not None
    bash = parts.tools[0]
    assert isinstance(bash, ExecuteBash)
    return bash


async def measure(calls: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        jailed, bare = tool(Path(tmp) / "ws", "bubblewrap"), tool(Path(tmp) / "ws", "none")
        results: dict[str, object] = {}
        for name, command in COMMANDS.items():
            times: dict[str, list[float]] = {"jailed": [], "unjailed": []}
            for _ in range(3):  # warm-up: page cache, first exec
                await jailed.execute(command)
                await bare.execute(command)
            for _ in range(calls):
                for side, runner in (("jailed", jailed), ("unjailed", bare)):
                    started = time.perf_counter()
                    result = await runner.execute(command)
                    times[side].append((time.perf_counter() - started) * 1000)
                    assert result.exit_code == 0, result.output
            med = {side: statistics.median(values) for side, values in times.items()}
            p90 = {side: statistics.quantiles(values, n=10)[-1] for side, values in times.items()}
            results[name] = {
                "command": command, "calls": calls,
                "jailed_median_ms": round(med["jailed"], 2), "unjailed_median_ms": round(med["unjailed"], 2),
                "jailed_p90_ms": round(p90["jailed"], 2), "unjailed_p90_ms": round(p90["unjailed"], 2),
                "overhead_ms": round(med["jailed"] - med["unjailed"], 2),
                "ratio_jailed_over_unjailed": round(med["jailed"] / med["unjailed"], 2),
            }
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = asyncio.run(measure(args.calls))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
