"""A real HTTP server for client tests: the hosted app (web/app.py: create_app, the API under /api/v1)
served by uvicorn on a loopback port in a thread, behind a recorder that logs every request as the
server sees it (so tests count requests server-side) and can answer 5xx itself, as a failing proxy
or a server in trouble would."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field


def free_port() -> int:
    """A free loopback port (Gradio's server_port=0 does not work: ask the OS and hand it over)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Recorder:
    """ASGI wrapper: `log` holds (method, path, query, if-none-match, status) per HTTP request."""

    app: object
    log: list = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this status instead of the app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        entry = {"method": scope["method"], "path": scope["path"], "query": scope.get("query_string", b"").decode(),
                 "if_none_match": headers.get(b"if-none-match", b"").decode() or None, "status": None}
        if self.fail_with:
            entry["status"] = self.fail_with
            self.log.append(entry)
            await send({"type": "http.response.start", "status": self.fail_with,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"upstream failed"})
            return

        async def recording_send(message):
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                self.log.append(entry)  # before the client can see the answer
            await send(message)

        await self.app(scope, receive, recording_send)

    def requests(self, path_suffix: str = "", method: str = "GET") -> list[dict]:
        return [e for e in self.log if e["method"] == method and e["path"].endswith(path_suffix)]


class ThreadedServer:
    """An ASGI app served by uvicorn on a free loopback port in a daemon thread (the hosted app's
    browser and client tests)."""

    def __init__(self, app, **config):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     **config))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop listening: connections are refused from now on."""
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(30)


class LiveServer(ThreadedServer):
    """The hosted app with a bare Gradio page behind a Recorder, for the client tests."""

    def __init__(self, services):
        import gradio as gr

        from promptmgr.web.app import create_app
        from tests.api_helpers import limits

        # A bare Gradio page: these tests are about the API, and the full UI takes seconds to build.
        with gr.Blocks() as demo:
            gr.Markdown("promptmgr")
        app = create_app(services, demo=demo)
        app.state.pm_api.state.pm_limits = limits("100000/minute")
        self.recorder = Recorder(app)
        super().__init__(self.recorder, lifespan="off")

    @property
    def log(self) -> list:
        return self.recorder.log
