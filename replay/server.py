"""A small HTTP server that speaks the OpenAI chat-completions protocol.

It answers from recorded replies instead of a live model. The site's run
command starts it when no provider is configured, and the tests start it to
push every pipeline test through the same HTTP path as a real provider.

Two ways to decide a reply:
- recordings (sample/replay.json): per question title and model id, a list of
  answers used in turn, round after round;
- a script (tests): per model id, a list of behaviours used in turn (the last
  one repeats), each a dict such as
    {"content": "...", "finish_reason": "stop"}
    {"status": 500}                         an HTTP error
    {"status": 429, "headers": {"Retry-After": "1"}}
    {"status": 400, "error": {"code": "InvalidParameter", ...}}
    {"hang": 30}                            accept, then say nothing for 30 s
    {"error_in_200": {"message": "upstream failed"}}
    {"refusal": "I can't help with that."}
    {"content": "...", "usage": None}       no usage block
    {"reject_json_schema": True, "content": "..."}   400 when json_schema is asked
    {"raw": "{not json", "status": 200}     these bytes as the body, as a broken proxy might
    {"echo_key": True, ...}                 "{api_key}" anywhere in the behaviour becomes the
                                            bearer token received, as a careless provider echoes it
  Streamed requests get the content in chunks, then a usage chunk with no choices.
"""

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TITLE = re.compile(r"^Question: (.*)$", re.MULTILINE)
_ids = itertools.count(1)


class _HTTPServer(ThreadingHTTPServer):
    # http.server's backlog of 5 drops simultaneous connections (a round asks
    # every model at once), which the client only retries a second later.
    request_queue_size = 128
    daemon_threads = True


class ReplayServer:
    """An OpenAI-compatible server for tests and benchmarks.

    With record_calls (tests), every request body and Authorization header is
    kept for assertions; without it (`python -m replay`, long benchmark runs)
    only `call_count` grows, so memory stays flat however long it serves.
    """

    def __init__(self, host="127.0.0.1", port=0, recordings=None, script=None, record_calls=True):
        self.recordings = recordings or {"default": [], "questions": {}}
        self.script = script or {}
        self.record_calls = record_calls
        self.call_count = 0
        self.calls = []  # (model, request body) for every request received, when recording
        # (model, Authorization header) for every request, in the order of calls, when recording.
        self.authorizations = []
        self._turns = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.httpd = _HTTPServer((host, port), self._handler_class())
        self._thread = None

    @classmethod
    def from_file(cls, path, **kwargs):
        return cls(recordings=json.loads(Path(path).read_text()), **kwargs)

    @property
    def base_url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self):
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="replay-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve_forever(self):
        self.httpd.serve_forever()

    def calls_for(self, model):
        return [body for name, body in self.calls if name == model]

    # -- deciding a reply ------------------------------------------------------

    def _next(self, key, options):
        with self._lock:
            turn = self._turns.get(key, 0)
            self._turns[key] = turn + 1
        return options[min(turn, len(options) - 1)] if key[0] == "script" else options[turn % len(options)]

    def behaviour_for(self, model, body):
        if model in self.script:
            return self._next(("script", model), self.script[model])
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict))
        match = _TITLE.search(prompt)
        title = match.group(1).strip() if match else ""
        recorded = self.recordings.get("questions", {}).get(title, {}).get(model)
        if recorded:
            answer = self._next(("recording", title, model), recorded)
        elif self.recordings.get("default"):
            answer = self._next(("default", model), self.recordings["default"])
        else:
            return {"status": 404, "error": {"message": f"no recording for model {model!r}"}}
        if "error" in answer:
            return {"status": int(answer["error"])}
        content = json.dumps({"probability": answer["probability"], "rationale": answer["rationale"]})
        return {"content": content}

    # -- HTTP --------------------------------------------------------------------

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    models = sorted(set(server.script) | _recorded_models(server.recordings))
                    self._json(
                        200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}
                    )
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._json(400, {"error": {"message": "invalid JSON"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                model = str(body.get("model", ""))
                with server._lock:
                    server.call_count += 1
                    if server.record_calls:
                        server.calls.append((model, body))
                        server.authorizations.append((model, self.headers.get("Authorization", "")))
                behaviour = server.behaviour_for(model, body)
                self._reply(model, body, behaviour)

            def _reply(self, model, body, b):
                if b.get("echo_key"):
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                    b = json.loads(json.dumps(b).replace("{api_key}", token))
                if "hang" in b:
                    # Accept the request and say nothing: a provider that stalls.
                    server._stopping.wait(float(b["hang"]))
                    self.close_connection = True
                    return
                if "delay" in b:
                    time.sleep(float(b["delay"]))
                if "raw" in b:
                    raw = b["raw"].encode() if isinstance(b["raw"], str) else bytes(b["raw"])
                    self.send_response(int(b.get("status", 200)))
                    self.send_header("Content-Type", b.get("content_type", "application/json"))
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                    return
                response_format = (body.get("response_format") or {}).get("type")
                if b.get("reject_json_schema") and response_format == "json_schema":
                    self._json(
                        400,
                        {
                            "error": {
                                "code": "InvalidParameter",
                                "param": "response_format.type",
                                "message": "response_format.type json_schema is not supported; "
                                "supported values are json_object and text",
                            }
                        },
                    )
                    return
                if "status" in b:
                    error = b.get("error") or {
                        "message": f"replayed HTTP {b['status']}",
                        "type": "server_error",
                    }
                    self._json(int(b["status"]), {"error": error}, headers=b.get("headers"))
                    return
                if "error_in_200" in b:
                    self._json(200, {"error": b["error_in_200"]})
                    return
                content = b.get("content")
                refusal = b.get("refusal")
                finish = b.get("finish_reason", "length" if b.get("truncated") else "stop")
                usage = b.get("usage", {"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200})
                if body.get("stream"):
                    self._stream(model, content, refusal, finish, usage)
                    return
                message = {"role": "assistant", "content": content}
                if refusal is not None:
                    message["refusal"] = refusal
                payload = {
                    "id": f"chatcmpl-replay-{next(_ids)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                }
                if usage is not None:
                    payload["usage"] = usage
                self._json(200, payload, headers=b.get("headers"))

            def _stream(self, model, content, refusal, finish, usage):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                chunk_id = f"chatcmpl-replay-{next(_ids)}"
                base = {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                }
                pieces = [content[i : i + 16] for i in range(0, len(content or ""), 16)]
                for piece in pieces:
                    self._event({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
                if refusal:
                    self._event({**base, "choices": [{"index": 0, "delta": {"refusal": refusal}}]})
                self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if usage is not None:
                    self._event({**base, "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, data):
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def _json(self, status, data, headers=None):
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, str(value))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


def _recorded_models(recordings):
    models = set()
    for per_model in recordings.get("questions", {}).values():
        models.update(per_model)
    return models
