"""Figures: importing a 100,000-row dataset (CSV and JSONL) with DatasetService.add, and creating an
experiment of 100,000 rows x 2 variants (200,000 cells), each in a fresh process so its peak RSS
is its own. Printed next to baselines over the same file: a plain csv.reader pass (CSV), a plain
json.loads per line (JSONL), and reading the whole file into a list (what "held in memory whole"
would cost).

    .venv/bin/python bench/bench_datasets.py [--rows 100000] [--pg] [--keep]

Goals (issue 9): import in <= 30 s, never holding the file in memory whole (peak RSS far below
the list-of-rows baseline's growth)."""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 30.0
PG_ADMIN = os.environ.get("PROMPTMGR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

WORDS = ("the a of to and in capital city river country language answer question explain briefly why how "
         "which when population number history science small large first last").split()


def make_files(folder: Path, rows: int) -> tuple[Path, Path]:
    """A CSV and a JSONL of the same rows: question (~12 words), context (~40 words), a topic,
    promptfoo's __expected and __description; ~330 bytes a row."""
    rng = random.Random(7)
    csv_path, jsonl_path = folder / f"rows-{rows}.csv", folder / f"rows-{rows}.jsonl"
    import csv

    with open(csv_path, "w", newline="", encoding="utf-8") as c, open(jsonl_path, "w", encoding="utf-8") as j:
        writer = csv.writer(c)
        writer.writerow(["id", "question", "context", "topic", "__expected", "__description"])
        for i in range(rows):
            question = " ".join(rng.choices(WORDS, k=12)) + "?"
            context = " ".join(rng.choices(WORDS, k=40))
            expected = rng.choice(["Paris", "contains: river", "icontains: YES", str(i)])
            row = [f"r{i}", question, context, rng.choice(["geo", "math", "lang"]), expected, f"case {i}"]
            writer.writerow(row)
            j.write(json.dumps({"id": row[0], "vars": {"question": question, "context": context, "topic": row[3]},
                                "expected": expected, "description": row[5]}) + "\n")
    return csv_path, jsonl_path


# --- the measured workloads (each run in its own process) -------------------------------------
def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _services(db_url: str, home: Path):
    import promptmgr.llm.offline  # noqa: F401
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    services = build_services(Settings(home=home, database_url=db_url, load_starter=False))
    return services, services.local_context(load_starter=False)


def work(kind: str, path: str, db_url: str, home: str) -> dict:
    import time

    if kind == "csv-reader":
        import csv

        start_mb = _peak_mb()
        start = time.perf_counter()
        with open(path, newline="", encoding="utf-8") as handle:
            count = sum(1 for _ in csv.reader(handle)) - 1
        return {"seconds": time.perf_counter() - start, "rows": count, "peak_mb": _peak_mb(), "start_mb": start_mb}
    if kind == "jsonl-loads":
        start_mb = _peak_mb()
        start = time.perf_counter()
        with open(path, encoding="utf-8") as handle:
            count = sum(1 for line in handle if json.loads(line))
        return {"seconds": time.perf_counter() - start, "rows": count, "peak_mb": _peak_mb(), "start_mb": start_mb}
    if kind == "list-whole":
        import csv

        start_mb = _peak_mb()
        start = time.perf_counter()
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return {"seconds": time.perf_counter() - start, "rows": len(rows), "peak_mb": _peak_mb(), "start_mb": start_mb}
    services, ctx = _services(db_url, Path(home))
    start_mb = _peak_mb()
    start = time.perf_counter()
    if kind == "import":
        dataset = services.datasets.add(ctx, "bench", path)
        count = dataset.row_count
    elif kind == "experiment":
        services.providers.add(ctx, "fake", "http://127.0.0.1:9/v1")
        from promptmgr.schemas import PromptCreate, parse

        services.library.create(ctx, parse(PromptCreate, {"name": "qa", "content": "Q: {{ question }}"}))
        services.datasets.add(ctx, "bench", path)
        start_mb = _peak_mb()
        start = time.perf_counter()
        experiment = services.experiments.create(ctx, "bench", dataset="bench", prompts=["qa"],
                                                 models=["fake/a", "fake/b"], checks=["icontains:yes"])
        count = experiment.cells.total
    else:
        raise SystemExit(f"unknown workload {kind}")
    seconds = time.perf_counter() - start
    services.db.dispose()
    return {"seconds": seconds, "rows": count, "peak_mb": _peak_mb(), "start_mb": start_mb}


def measure(kind: str, path: Path, db_url: str = "", home: Path | None = None) -> dict:
    code = ("import json, sys; sys.path.insert(0, %r); sys.path.insert(0, %r); import bench_datasets as b; "
            "print(json.dumps(b.work(*sys.argv[1:])))" % (str(ROOT), str(ROOT / "bench")))
    proc = subprocess.run([sys.executable, "-c", code, kind, str(path), db_url, str(home or "")],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pg_database() -> str | None:
    from sqlalchemy import create_engine, text

    name = f"promptmgr_bench_{uuid.uuid4().hex[:8]}"
    try:
        engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def _line(label: str, result: dict, baseline: dict | None = None) -> str:
    text = (f"  {label:<44} {result['seconds']:7.2f} s  {result['rows']:>8,} rows  "
            f"peak RSS {result['peak_mb']:6.0f} MB (+{result['peak_mb'] - result['start_mb']:.0f} MB over the "
            "process before the work)")
    if baseline:
        text += f"  = {result['seconds'] / max(baseline['seconds'], 1e-9):.1f}x the baseline's time"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="also import into a throw-away PostgreSQL database")
    parser.add_argument("--keep", action="store_true", help="keep the generated files in bench/out/")
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    csv_path, jsonl_path = make_files(out, args.rows)
    print(f"{args.rows:,} rows: CSV {csv_path.stat().st_size / 1e6:.1f} MB, "
          f"JSONL {jsonl_path.stat().st_size / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reader = measure("csv-reader", csv_path)
        whole = measure("list-whole", csv_path)
        loads = measure("jsonl-loads", jsonl_path)
        print("Baselines (no database):")
        print(_line("csv.reader pass over the CSV", reader))
        print(_line("the CSV read whole into a list of dicts", whole))
        print(_line("json.loads of every JSONL line", loads))
        print("DatasetService.add (SQLite, validated, one transaction):")
        results = {}
        for label, path, baseline in (("CSV", csv_path, reader), ("JSONL", jsonl_path, loads)):
            home = tmp / f"home-{label}"
            results[label] = measure("import", path, f"sqlite:///{home / 'bench.db'}", home)
            print(_line(f"import {label}", results[label], baseline))
        home = tmp / "home-exp"
        experiment = measure("experiment", csv_path, f"sqlite:///{home / 'bench.db'}", home)
        print("ExperimentService.create, 2 variants (SQLite):")
        print(_line("create: cells inserted", experiment))
        if args.pg:
            url = _pg_database()
            if url:
                try:
                    from promptmgr.db import Database

                    Database(url).upgrade()
                    print("PostgreSQL:")
                    results["PG CSV"] = measure("import", csv_path, url, tmp / "home-pg")
                    print(_line("import CSV", results["PG CSV"], reader))
                finally:
                    _drop(url)
                url = _pg_database()
                try:
                    Database(url).upgrade()
                    pg_exp = measure("experiment", csv_path, url, tmp / "home-pg-exp")
                    print(_line("create: cells inserted", pg_exp))
                finally:
                    _drop(url)
    worst = max(r["seconds"] for r in results.values())
    print(f"Verdict: slowest import {worst:.1f} s (goal <= {GOAL_SECONDS:.0f} s): "
          f"{'met' if worst <= GOAL_SECONDS else 'NOT met'}; import growth "
          f"{max(r['peak_mb'] - r['start_mb'] for r in results.values()):.0f} MB vs "
          f"{whole['peak_mb'] - whole['start_mb']:.0f} MB for the file held whole")
    if not args.keep:
        csv_path.unlink()
        jsonl_path.unlink()


if __name__ == "__main__":
    main()
