"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benches.

Deterministic: the reply is "echo: <last user text>" unless replies are scripted; usage counts
are word counts. Failures and delays are injected per test.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key",
          "Incorrect API key provided: sk-tes************3456. You can find your API key in your account."),
    403: ("permission_denied", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found",
          "The model `{model}` does not exist or you do not have access to it."),
    429: ("rate_limit_exceeded", "rate_limit_exceeded", "Rate limit reached for requests. Please try again."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded."),
}


class RecordedRequest(dict):
    """The JSON body of one received request, with `.path`, `.method` and `.headers` (lower-case keys)."""

    def __init__(self, body: dict, *, path: str, method: str, headers: dict[str, str]):
        super().__init__(body)
        self.path = path
        self.method = method
        self.headers = headers


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _last_user_text(body: dict) -> str:
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return _text_of(users[-1].get("content")) if users else ""


def _words(text: str) -> int:
    return len(text.split())


class FakeLLMServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.delay: float = 0.0
        self.usage: bool = True  # False: answers carry no usage block (some local servers)
        self.echo_auth: bool = False  # True: replies quote the Authorization header (a provider leaking the key)
        self.chunk_delay: float = 0.0  # seconds between streamed chunks (cancellation tests)
        self.reject_keys: set[str] = set()  # API keys answered with 401, as a provider rejects a bad key
        self.stream_chunks_sent: list[int] = []  # per finished or aborted stream: data chunks written
        self.stream_aborted = threading.Event()  # set when a client closed a stream before its end
        self.requests: list[RecordedRequest] = []
        # Provider behaviour for the experiment runner's tests: a concurrency ceiling answered with
        # 429 + Retry-After (as a rate-limited provider), hanging requests (client timeouts).
        self.gate: threading.Event | None = None  # set: chat requests wait for it (up to 60 s) before answering
        self.max_in_flight: int | None = None  # more concurrent chat requests than this get a 429
        self.retry_after: float | None = None  # Retry-After (seconds) sent with every 429
        self.in_flight = 0
        self.peak_in_flight = 0
        # Chat requests by last user text: answered to a connected client, and abandoned (the client
        # had hung up, e.g. was killed, before its answer was due: nothing was delivered).
        self.answered: list[str] = []
        self.abandoned: list[str] = []
        self.rejected = 0  # 429s sent because of max_in_flight
        self._hangs: deque[float] = deque()
        self._replies: deque[str] = deque()
        self._failures: deque[tuple[int, str | None]] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a delayed request must not hold up stop()
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, replies: list[str]) -> None:
        """Queue exact replies, used in order before falling back to the echo reply."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(self, status: int, count: int = 1, message: str | None = None) -> None:
        """Answer the next `count` chat requests with an OpenAI-style error of this HTTP status."""
        with self._lock:
            self._failures.extend([(status, message)] * count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` chat requests wait `seconds` before answering (longer than a client's timeout)."""
        with self._lock:
            self._hangs.extend([seconds] * count)

    @property
    def chat_count(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.endswith("/chat/completions"))

    def user_texts(self) -> list[str]:
        """The last user message of every chat request received, in arrival order."""
        with self._lock:
            chats = [r for r in self.requests if r.path.endswith("/chat/completions")]
        out = []
        for body in chats:
            users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
            out.append(_text_of(users[-1].get("content")) if users else "")
        return out

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
            self._failures.clear()
            self._hangs.clear()
            self.gate = None
            self.max_in_flight = None
            self.retry_after = None
            self.peak_in_flight = 0
            self.rejected = 0
            self.requests.clear()
            self.answered.clear()
            self.abandoned.clear()
            self.delay = 0.0
            self.usage = True
            self.echo_auth = False
            self.chunk_delay = 0.0
            self.reject_keys.clear()
            self.stream_chunks_sent.clear()
            self.stream_aborted.clear()

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def start(self) -> "FakeLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------
    def _next_failure(self) -> tuple[int, str | None] | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _next_reply(self, body: dict) -> str:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        user_msgs = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        return "echo: " + (_text_of(user_msgs[-1].get("content")) if user_msgs else "")

    def _wait(self) -> None:
        if self.gate is not None:
            self.gate.wait(60)
        with self._lock:
            hang = self._hangs.popleft() if self._hangs else 0.0
        if hang > 0:
            self._stopping.wait(hang)
        if self.delay > 0:
            self._stopping.wait(self.delay)

    def _enter(self) -> bool:
        """Count a chat request in flight; False when it is over max_in_flight (answer 429)."""
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            over = self.max_in_flight is not None and self.in_flight > self.max_in_flight
            if over:
                self.rejected += 1
            return not over

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _make_handler(server: FakeLLMServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout and cancel tests)
                pass

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _record(self, body: dict) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            with server._lock:
                server.requests.append(RecordedRequest(body, path=self.path, method=self.command, headers=headers))

        def _send_json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/_stats"):  # for benches running the server in a process
                self._send_json(200, {"chat_requests": server.chat_count, "peak_in_flight": server.peak_in_flight})
                return
            self._record({})
            if self.path.rstrip("/").endswith("/models"):
                self._send_json(200, {"object": "list", "data": [
                    {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"},
                ]})
            else:
                self._send_json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            self._record(body)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})
                return
            admitted = server._enter()
            try:
                if not admitted:
                    self._send_error(429, None, body)
                    return
                server._wait()
                if self._hung_up():
                    with server._lock:
                        server.abandoned.append(_last_user_text(body))
                    self.close_connection = True
                    return
                self._chat(body)
                with server._lock:
                    server.answered.append(_last_user_text(body))
            finally:
                server._leave()

        def _hung_up(self) -> bool:
            """The client closed its end while waiting (a killed process): EOF is readable."""
            import select

            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _send_error(self, status: int, custom: str | None, body: dict) -> None:
            kind, code, message = _ERRORS.get(status, ("server_error", None, f"HTTP {status}"))
            message = custom or message
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            payload = json.dumps({"error": {  # {key_head}/{key_tail}: echo parts of the key as some do
                "message": message.format(model=body.get("model", ""), key_head=key[:10], key_tail=key[-6:]),
                "type": kind, "param": None, "code": code,
            }}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429 and server.retry_after is not None:
                self.send_header("Retry-After", f"{server.retry_after:g}")
            self.end_headers()
            self.wfile.write(payload)

        def _chat(self, body: dict) -> None:
            failure = server._next_failure()
            bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if failure is None and bearer in server.reject_keys:
                failure = (401, None)
            if failure is not None:
                self._send_error(*failure, body)
                return
            self._answer(body)

        def _answer(self, body: dict) -> None:
            reply = server._next_reply(body)
            if server.echo_auth:
                reply += " (you sent " + (self.headers.get("Authorization") or "") + ")"
            finish = "stop"
            max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
            words = reply.split(" ")
            if isinstance(max_tokens, int) and max_tokens > 0 and len(reply.split()) > max_tokens:
                reply, finish = " ".join(words[:max_tokens]), "length"
            prompt_tokens = sum(_words(_text_of(m.get("content"))) for m in body.get("messages") or [])
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _words(reply),
                "total_tokens": prompt_tokens + _words(reply),
            }
            model = body.get("model", "fake-model")
            created = int(time.time())
            if not body.get("stream"):
                self._send_json(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                 "finish_reason": finish, "logprobs": None}],
                    **({"usage": usage} if server.usage else {}),
                })
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(delta: dict, finish_reason=None, **extra) -> dict:
                return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                                                     "logprobs": None}], **extra}

            events = [chunk({"role": "assistant", "content": ""})]
            pieces = reply.split(" ")
            events += [chunk({"content": p if i == 0 else " " + p}) for i, p in enumerate(pieces) if p or i == 0]
            events.append(chunk({}, finish))
            if server.usage and (body.get("stream_options") or {}).get("include_usage"):
                events.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                               "model": model, "choices": [], "usage": usage})
            sent = 0
            try:
                for event in events:
                    if sent and server.chunk_delay:
                        server._stopping.wait(server.chunk_delay)
                    self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
                    sent += 1
                self._write_chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the client closed the stream early
                server.stream_chunks_sent.append(sent)
                server.stream_aborted.set()
                raise
            server.stream_chunks_sent.append(sent)

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


@pytest.fixture
def fake_llm():
    """A running FakeLLMServer; `.base_url` is like "http://127.0.0.1:PORT/v1"."""
    with FakeLLMServer() as server:
        yield server


def _is_loopback(host) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def guard_network(monkeypatch) -> list[str]:
    """Make any connection or DNS lookup that leaves loopback fail; returns the list of attempts.

    Patched for the calling test only (monkeypatch undoes it); child processes are not covered."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(address) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(address, (str, bytes)):  # AF_UNIX
            return
        if not _is_loopback(host):
            attempts.append(str(host))
            raise OSError(f"test blocked a connection to {host}")

    def connect(self, address):
        _check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(str(host))
            raise socket.gaierror(f"test blocked a DNS lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@pytest.fixture
def block_external_network(monkeypatch):
    """Every test runs behind guard_network (tests/conftest.py); this one also hands the test the
    list of attempts it blocked, so it can assert there were none."""
    yield guard_network(monkeypatch)


if __name__ == "__main__":  # python tests/fake_llm.py [DELAY]: serve in its own process, print the port
    import sys

    with FakeLLMServer() as served:
        served.delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
        print(served.port, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
