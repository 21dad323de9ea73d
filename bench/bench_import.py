"""Figure: importing 100,000 prompts (an exported JSON document) into an empty SQLite library.

Prints the time of TransferService.import_ (after load_document), with validation, next to a
baseline: raw sqlite3 executemany of the same rows into the same schema, with no validation.

    .venv/bin/python bench/bench_import.py [--n 100000] [--seed 7] [--keep]
"""
from __future__ import annotations

import os

# The bench corpus is one document of ~240 MB: far above the import limit a user gets by default.
os.environ.setdefault("PROMPTMGR_MAX_DOCUMENT_BYTES", str(10**10))

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from corpus import SEED, document_file

import promptmgr.llm.offline  # noqa: F401  (offline switches before anything else loads)

GOAL_SECONDS = 60.0


def empty_library(home: Path):
    """A migrated, empty SQLite library in `home` and its local context."""
    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    services = build_services(Settings(home=home, database_url=f"sqlite:///{home / 'promptmgr.db'}",
                                       load_starter=False))
    return services, services.local_context(load_starter=False)


def import_with_service(path: Path, home: Path) -> tuple[float, float, int]:
    """Seconds to parse the document, seconds to import it, prompts in the library afterwards."""
    from promptmgr.services.transfer import load_document

    services, ctx = empty_library(home)
    start = time.perf_counter()
    document = load_document(path.read_text(encoding="utf-8"), "json")
    parsed = time.perf_counter()
    report = services.transfer.import_(ctx, document)
    done = time.perf_counter()
    total = services.library.list(ctx).total
    services.db.dispose()
    assert len(report.created) == total == len(document["prompts"]), (len(report.created), total)
    return parsed - start, done - parsed, total


def _text_of(version: dict) -> str:
    if "messages" not in version:
        return version["content"]
    return "\n\n".join(f"[{m['role']}]\n" + "\n".join(p.get("text", "") for p in m["content"])
                       for m in version["messages"])


def import_raw(path: Path, home: Path) -> tuple[float, float]:
    """The baseline: the same rows with plain sqlite3 executemany, nothing validated."""
    services, ctx = empty_library(home)
    db_file = services.settings.home / "promptmgr.db"
    services.db.dispose()
    start = time.perf_counter()
    document = json.loads(path.read_text(encoding="utf-8"))
    parsed = time.perf_counter()
    conn = sqlite3.connect(db_file, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    tenant, owner = ctx.tenant_id, ctx.user_id
    entries = document["prompts"]
    conn.executemany(
        "INSERT INTO prompt (tenant_id, name, title, description, category, tags, tags_text, is_enhancement, "
        "visibility, kind, owner_id, meta, latest_version, content_text, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(tenant, e["name"], e["title"], e["description"], e["category"], json.dumps(e["tags"]),
          " ".join(e["tags"]), e["is_enhancement"], e["visibility"], e["kind"], owner, json.dumps(e["metadata"]),
          len(e["versions"]), _text_of(e["versions"][-1]), e["created_at"], e["updated_at"]) for e in entries])
    ids = dict(conn.execute("SELECT name, id FROM prompt WHERE tenant_id = ?", (tenant,)))
    conn.executemany(
        "INSERT INTO prompt_version (tenant_id, prompt_id, number, content, messages, variables, author_id, "
        "author, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(tenant, ids[e["name"]], v["number"], v.get("content", ""), json.dumps(v.get("messages")), "[]", owner,
          v["author"], v["message"], v["created_at"]) for e in entries for v in e["versions"]])
    conn.executemany("INSERT INTO prompt_tag (prompt_id, tag, tenant_id) VALUES (?, ?, ?)",
                     [(ids[e["name"]], tag, tenant) for e in entries for tag in e["tags"]])
    conn.executemany(
        "INSERT INTO label (tenant_id, prompt_id, name, version_number, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(tenant, ids[e["name"]], name, number, e["updated_at"]) for e in entries
         for name, number in e["labels"].items()])
    conn.execute("COMMIT")
    done = time.perf_counter()
    conn.close()
    return parsed - start, done - parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="prompts in the document")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folders")
    args = parser.parse_args()

    path = document_file(args.n, args.seed)
    print(f"document: {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB, {args.n:,} prompts)")
    work = Path(tempfile.mkdtemp(prefix="promptmgr-bench-import-"))
    try:
        parse_s, import_s, total = import_with_service(path, work / "service")
        raw_parse_s, raw_s = import_raw(path, work / "raw")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ours, baseline = parse_s + import_s, raw_parse_s + raw_s
    print(f"{'':34}{'seconds':>9}{'prompts/s':>11}")
    print(f"{'TransferService.import_ (total)':34}{ours:9.1f}{total / ours:11,.0f}   goal <= {GOAL_SECONDS:.0f} s: "
          f"{'met' if ours <= GOAL_SECONDS else 'MISSED'}")
    print(f"{'  load_document (JSON parse)':34}{parse_s:9.1f}")
    print(f"{'  import_ (validate + insert)':34}{import_s:9.1f}")
    print(f"{'baseline: raw sqlite3 executemany':34}{baseline:9.1f}{total / baseline:11,.0f}   (no validation)")
    print(f"{'  json.loads':34}{raw_parse_s:9.1f}")
    print(f"{'  executemany + commit':34}{raw_s:9.1f}")
    print(f"ratio: import_ takes {ours / baseline:.1f}x the raw baseline's time")


if __name__ == "__main__":
    main()
