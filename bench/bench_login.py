"""Figure: service-level login with the production argon2 parameters, next to one raw argon2
verification (the floor: a login cannot be cheaper than checking the password).

Logs in `--logins` times in sequence through AuthService.login (lockout bookkeeping, session
tokens, the refresh-token row) on a throw-away SQLite database, and reports logins/s and p50
beside the p50 of PasswordHasher.verify alone; then the same through HTTP (POST /login of the
hosted app under uvicorn, one worker: the form, its CSRF check, the cookies), sequential and with
4 clients at once.

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
    floor = statistics.median(raw)
    print(f"{params}: one raw verification p50 {floor * 1000:.0f} ms (the floor)")
    print(f"login (service, sequential): p50 {statistics.median(logins) * 1000:.0f} ms "
          f"= {statistics.median(logins) / floor:.2f}x the floor, {args.logins / wall:.1f} logins/s on one thread")
    http_leg(services, args.logins, floor)
    services.db.dispose()


def http_leg(services, count: int, floor: float) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import uvicorn

    from promptmgr.web.app import create_app
    from tests.browser.conftest import free_port
    from tests.web_fixtures import csrf_from

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"

    def one(i: int) -> float:
        with httpx.Client(base_url=base, headers={"X-Forwarded-For": f"10.8.{i // 250}.{i % 250}"}) as client:
            token = csrf_from(client.get("/login").text)
            start = time.perf_counter()
            reply = client.post("/login", data={"email": "bench@example.org", "password": PASSWORD,
                                                "csrf_token": token})
            took = time.perf_counter() - start
            assert reply.status_code in (302, 303) and "pm_access" in reply.cookies, reply.status_code
            return took

    try:
        times = [one(i) for i in range(count)]
        print(f"login (HTTP POST /login, sequential): p50 {statistics.median(times) * 1000:.0f} ms "
              f"= {statistics.median(times) / floor:.2f}x the floor")
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            times = list(pool.map(one, range(count, 3 * count)))
        wall = time.perf_counter() - start
        print(f"login (HTTP, 4 clients at once): {2 * count / wall:.1f} logins/s, p50 {statistics.median(times) * 1000:.0f} ms "
              f"(one uvicorn worker; argon2 releases the GIL, so verifications overlap on the cores)")
    finally:
        server.should_exit = True


if __name__ == "__main__":
    main()
