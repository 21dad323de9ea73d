"""Figure: cold start of the CLI, next to a bare Python start.

Times `promptmgr --help` and `promptmgr prompts list` (on a data folder that already exists, with
the starter library loaded) as fresh processes, the median of --runs runs each, next to
`python -c pass` with the same interpreter. Then lists the heaviest imports of `prompts list`
(python -X importtime) so a regression names its cause.

    .venv/bin/python bench/bench_cold_start.py [--runs 10] [--top 12]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"--help": 0.3, "prompts list": 0.6}


def command() -> list[str]:
    """The installed console script (what users run) when it runs this tree's code, else
    `python -m promptmgr` from this tree (e.g. a worktree beside another checkout's editable install)."""
    script = Path(sys.executable).with_name("promptmgr")
    probe = subprocess.run([sys.executable, "-c", "import promptmgr; print(promptmgr.__file__)"], cwd="/",
                           capture_output=True, text=True, check=False)
    installed_here = probe.returncode == 0 and Path(probe.stdout.strip()).resolve().is_relative_to(ROOT)
    return [str(script)] if script.exists() and installed_here else [sys.executable, "-m", "promptmgr"]


def timed(args: list[str], env: dict, runs: int) -> tuple[float, str]:
    """Median wall seconds of `args` as a fresh process; and the last run's stderr if it failed."""
    seconds, failure = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - start)
        if proc.returncode != 0:
            failure = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            failure = failure[0]
    return statistics.median(seconds), failure


def heaviest_imports(args: list[str], env: dict, top: int) -> list[tuple[float, str]]:
    """(cumulative ms, module) of the slowest top-level imports, from -X importtime."""
    if args[0] != sys.executable:  # run the console script's code under the same interpreter
        args = [sys.executable, "-m", "promptmgr", *args[1:]]
    proc = subprocess.run([args[0], "-X", "importtime", *args[1:]], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # top-level imports only (nested ones are inside them)
            rows.append((int(match.group(1)) / 1000, match.group(3)))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=12, help="heaviest imports to list")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="promptmgr-bench-cold-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",) and not k.startswith("PROMPTMGR_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PROMPTMGR_HOME"] = str(home / "data")
    cli = command()
    try:
        # The data folder exists and holds the starter library before anything is timed.
        first = subprocess.run([*cli, "prompts", "list", "--json"], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if first.returncode != 0:
            print(f"`prompts list` fails, so it cannot be timed yet: {first.stderr.strip()[-300:]}")
        print(f"command: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cli))}   "
              f"(median of {args.runs} fresh processes; data folder with the starter library)")
        baseline, _ = timed([sys.executable, "-c", "pass"], env, args.runs)
        print(f"{'python -c pass':28}{baseline:7.3f} s")
        for label, extra in (("--help", ["--help"]), ("prompts list", ["prompts", "list"])):
            seconds, failure = timed([*cli, *extra], env, args.runs)
            verdict = "met" if seconds <= GOALS[label] else "MISSED"
            print(f"{'promptmgr ' + label:28}{seconds:7.3f} s   {seconds / baseline:5.1f}x python -c pass   "
                  f"+{seconds - baseline:.3f} s   goal <= {GOALS[label]} s: {verdict}"
                  + (f"   (FAILED: {failure})" if failure else ""))
        for label, extra in (("--help", ["--help"]), ("prompts list", ["prompts", "list"])):
            print(f"\nheaviest top-level imports of `promptmgr {label}` (cumulative ms, one run):")
            for ms, module in heaviest_imports([*cli, *extra], env, args.top):
                print(f"    {ms:7.1f}  {module}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
