"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

It speaks real HTTP, so tracesql is exercised through the real `openai` client. A test
decides every answer:

    with FakeLLMServer(latency=0.05) as server:
        server.enqueue(Reply.error(429, retry_after=0.1), Reply.text("hello"))
        ...  # point a provider's base_url at server.url
        assert len(server.requests) == 2
        assert server.max_in_flight <= 8

Answers come, in this order, from the FIFO queue (`enqueue`), then from the first matching
rule (`when`), then from `default(request)` (echo the prompt, or a valid instance of the
requested JSON schema). A reply may be plain text, a JSON value, an HTTP error with
Retry-After, a response cut off at max_tokens, a hang (longer than the client's timeout),
a body trickled one byte at a time, a malformed body, or a dropped connection. Every chat request is recorded (body, headers, timing, status),
and the server counts how many requests were in flight at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = "ok"
    status: int = 200
    finish_reason: str = "stop"
    delay: float | None = None  # seconds before answering; None = the server's latency
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)
    reasoning: str | None = None  # sent as message.reasoning_content
    raw: dict | None = None  # a 200 body sent as it is, instead of a completion
    trickle: float | None = None  # seconds between the body's bytes (headers at once)

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json(cls, value: Any, **kw: Any) -> Reply:
        return cls(content=json.dumps(value), **kw)

    @classmethod
    def error(
        cls, status: int, message: str = "scripted error", retry_after: float | None = None, **kw: Any
    ) -> Reply:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(content=message, status=status, headers=headers, **kw)

    @classmethod
    def truncated(cls, content: str = "This answer was cut of", **kw: Any) -> Reply:
        return cls(content=content, finish_reason="length", **kw)

    @classmethod
    def hang(cls, seconds: float, content: str = "too late") -> Reply:
        return cls(content=content, delay=seconds)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)

    @classmethod
    def body(cls, raw: dict) -> Reply:
        """A 200 whose JSON body is `raw` (a malformed completion, say)."""
        return cls(raw=raw)

    @classmethod
    def trickled(cls, interval: float, content: str = "a slow answer " * 20) -> Reply:
        """A 200 whose headers come at once and whose body comes one byte per `interval`."""
        return cls(content=content, trickle=interval)


@dataclass
class RecordedRequest:
    path: str
    body: dict
    headers: dict[str, str]  # names in lower case
    started: float
    finished: float | None = None
    status: int | None = None
    content: str | None = None
    body_bytes: int = 0  # bytes of the response body the server managed to send
    body_size: int = 0  # bytes of the response body it meant to send

    @property
    def messages(self) -> list[dict]:
        return self.body.get("messages", [])

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        users = [m for m in self.messages if m.get("role") == "user"]
        return _text(users[-1].get("content")) if users else ""

    @property
    def system(self) -> str | None:
        systems = [m for m in self.messages if m.get("role") == "system"]
        return _text(systems[0].get("content")) if systems else None

    @property
    def schema(self) -> dict | None:
        fmt = self.body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema")
        return None


Answer = Reply | str | dict | list
Rule = tuple[Callable[[RecordedRequest], bool], Callable[[RecordedRequest], Answer], list[int]]


class FakeLLMServer:
    """See the module docstring. Start with `start()` or `with`, stop with `stop()`."""

    def __init__(
        self,
        latency: float = 0.0,
        default: Callable[[RecordedRequest], Answer] | None = None,
        model_id: str = "fake-model",
        require_key: str | None = None,
        known_models: list[str] | None = None,
    ) -> None:
        self.latency = latency
        self.default = default or default_answer
        self.model_id = model_id
        self.require_key = require_key  # set: other keys get 401, on GET /models too
        self.known_models = known_models  # set: GET /models lists them, other models get 404
        self.listings = 0  # GET /models requests
        self._queue: deque[Reply] = deque()
        self._rules: list[Rule] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # scripting -------------------------------------------------------------------------
    def enqueue(self, *replies: Reply | str) -> None:
        with self._lock:
            self._queue.extend(r if isinstance(r, Reply) else Reply.text(r) for r in replies)

    def when(
        self,
        match: str | Callable[[RecordedRequest], bool],
        answer: Answer | Callable[[RecordedRequest], Answer],
        times: int | None = None,
    ) -> None:
        """Answer requests whose prompt contains `match` (or for which `match(request)` is true)."""
        test = (lambda r, s=match: s in json.dumps(r.messages)) if isinstance(match, str) else match
        produce = answer if callable(answer) else (lambda _r, a=answer: a)
        with self._lock:
            self._rules.append((test, produce, [times if times is not None else -1]))

    # observation -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def prompts(self) -> list[str]:
        return [r.prompt for r in self.requests]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._rules.clear()
            self.max_in_flight = self.in_flight

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return True
            time.sleep(0.01)
        return False

    # serving ---------------------------------------------------------------------------
    def _choose(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            rules = list(self._rules)
        for test, produce, left in rules:
            if left[0] != 0 and test(request):
                with self._lock:
                    if left[0] == 0:
                        continue
                    left[0] -= 1
                return _as_reply(produce(request))
        return _as_reply(self.default(request))

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default backlog of 5 refuses bursts of parallel connects


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate sends: no 40 ms delayed-ACK stall
    fake: FakeLLMServer

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self.fake.listings += 1
            if self._refused_key():
                return
            ids = self.fake.known_models or [self.fake.model_id]
            self._send(200, {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        fake = self.fake
        request = RecordedRequest(
            self.path, body, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()
        )
        fake._enter(request)
        try:
            if self._refused_key():
                request.status = 401
                return
            if fake.known_models is not None and body.get("model") not in fake.known_models:
                request.status = 404
                self._send(
                    404,
                    {"error": {"message": f"model {body.get('model')} not found", "code": "model_not_found"}},
                )
                return
            reply = fake._choose(request)
            delay = fake.latency if reply.delay is None else reply.delay
            if delay > 0:
                fake._stopping.wait(delay)
            request.status, request.content = reply.status, reply.content
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if reply.status != 200:
                payload = {"error": {"message": reply.content, "type": "scripted", "code": reply.status}}
                self._send(reply.status, payload, reply.headers)
                return
            payload = reply.raw if reply.raw is not None else completion(body, reply, fake.model_id)
            self._send(200, payload, reply.headers, request=request, trickle=reply.trickle)
        except OSError:  # the client went away (timed out)
            self.close_connection = True
        finally:
            request.finished = time.monotonic()
            fake._leave()

    def _refused_key(self) -> bool:
        """401 when the server requires a key and the request has another."""
        wanted = self.fake.require_key
        if wanted is None or self.headers.get("Authorization", "") == f"Bearer {wanted}":
            return False
        self._send(401, {"error": {"message": "invalid api key", "code": "invalid_api_key"}})
        return True

    def _send(
        self,
        status: int,
        payload: dict,
        headers: dict[str, str] | None = None,
        *,
        request: RecordedRequest | None = None,
        trickle: float | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if request is not None:
            request.body_size = len(data)
        if trickle is None:
            self.wfile.write(data)
            if request is not None:
                request.body_bytes = len(data)
            return
        self.wfile.flush()
        for i in range(len(data)):
            if self.fake._stopping.wait(trickle):
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            if request is not None:
                request.body_bytes = i + 1


def completion(body: dict, reply: Reply, model_id: str) -> dict:
    prompt_chars = len(json.dumps(body.get("messages", [])))
    usage = reply.usage or (prompt_chars // 4 + 1, len(reply.content or "") // 4 + 1)
    return {
        "id": "chatcmpl-" + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", model_id),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    **({"reasoning_content": reply.reasoning} if reply.reasoning is not None else {}),
                },
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def _as_reply(answer: Answer) -> Reply:
    if isinstance(answer, Reply):
        return answer
    if isinstance(answer, str):
        return Reply.text(answer)
    return Reply.json(answer)


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def default_answer(request: RecordedRequest) -> Answer:
    """A valid instance of the requested schema, or an echo of the prompt."""
    schema = request.schema
    if schema is not None:
        return instance_of(schema, schema, request.prompt)
    fmt = (request.body.get("response_format") or {}).get("type")
    if fmt == "json_object":
        return {"answer": request.prompt[:40]}
    return "echo: " + request.prompt


def echo_answer(request: RecordedRequest) -> Answer:
    """As a model that repeats its input would answer (../shared/tools/fake_openai_server.py
    --echo): every free-text field of the schema, or the whole answer, is the request's
    messages (system and user) joined."""
    copied = "\n".join(_text(m.get("content")) for m in request.messages)
    if request.schema is not None:
        return instance_of(request.schema, request.schema, request.prompt, text=copied)
    return copied


def instance_of(schema: dict, root: dict, seed: str, text: str | None = None) -> Any:
    """A deterministic value that satisfies the (simple) JSON schema; free-text strings are
    `text` when given."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return instance_of((root.get("$defs") or root.get("definitions") or {})[name], root, seed, text)
    if "enum" in schema:
        return schema["enum"][int(hashlib.md5(seed.encode()).hexdigest(), 16) % len(schema["enum"])]
    if "anyOf" in schema:
        return instance_of(schema["anyOf"][0], root, seed, text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: instance_of(v, root, seed + k, text) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(schema.get("minItems", 1), 1)
        return [
            instance_of(schema.get("items") or {"type": "string"}, root, seed + str(i), text)
            for i in range(count)
        ]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text if text is not None else "text " + hashlib.md5(seed.encode()).hexdigest()[:8]
