"""Figure: service-level login with the production argon2 parameters, next to one raw argon2
verification (the floor: a login cannot be cheaper than checking the password).

Logs in `--logins` times in sequence through AuthService.login (lockout bookkeeping, session
tokens, the refresh-token row) on a throw-away SQLite database, and reports logins/s and p50
beside the p50 of PasswordHasher.verify alone. The web layer's HTTP figure adds its own overhead
on top of this one.

    .venv/bin/python bench/bench_login.py [--logins 20]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "a long unusual passphrase"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()

    from promptmgr.bootstrap import build_services
    from promptmgr.config import Settings

    home = Path(tempfile.mkdtemp(prefix="pm-bench-login-"))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'bench.db'}", load_starter=False,
                        secret_key="bench-secret-key-0123456789abcdef", mode="multi")
    services = build_services(settings)
    accounts = services.accounts
    accounts.create_workspace(accounts.operator_context(), "bench", "Bench")
    accounts.create_user(accounts.operator_context("bench"), "bench@example.org", PASSWORD, "editor")
    stored = services.password_hasher.hash(PASSWORD)

    raw, logins = [], []
    for _ in range(args.logins):
        start = time.perf_counter()
        services.password_hasher.verify(PASSWORD, stored)
        raw.append(time.perf_counter() - start)
    wall = time.perf_counter()
    for i in range(args.logins):
        start = time.perf_counter()
        services.auth.login("bench@example.org", PASSWORD, address=f"10.9.{i // 250}.{i % 250}")
        logins.append(time.perf_counter() - start)
    wall = time.perf_counter() - wall
    params = f"argon2id m={settings.argon2_memory_kib} KiB t={settings.argon2_time_cost}"
    print(f"{params}: one raw verification p50 {statistics.median(raw) * 1000:.0f} ms")
    print(f"login (service, sequential): p50 {statistics.median(logins) * 1000:.0f} ms, "
          f"{args.logins / wall:.1f} logins/s on one thread")
    services.db.dispose()


if __name__ == "__main__":
    main()
