"""A loopback OpenAI-compatible server with the files and batches API, for batch-mode tests.

`BatchLoopbackServer` is `tests/loopback.py`'s server (same chat answers, same `hook`) plus:

- `POST /v1/files` (multipart `file`, `purpose`), `GET /v1/files/{id}`, `GET /v1/files/{id}/content`;
- `POST /v1/batches`, `GET /v1/batches/{id}`, `GET /v1/batches` (the list, newest first).

A batch stays `in_progress` while `server.held` is True, and for `polls_before_done` status checks
after its creation; then every line is answered as `/v1/chat/completions` would answer it (the
hook may return a `Reply` with an error status or a fault: that line goes to the error file, as
OpenAI does) and the batch is `completed`, with an output file and, when lines failed, an error
file. `server.expire_after = N` ends batches `expired` after N lines (the rest are error lines
with code `batch_expired`); `server.cancel_after = N` ends them `cancelled` after N lines (code
`batch_cancelled`); `server.fail_batches = True` makes them `failed` with a validation error;
`server.end_batches = N` applies these three to the first N batches only (None: every batch).

Counting: `uploads`, `batch_creations`, `retrievals`, `content_reads`, `list_calls`, `lines`
(lines answered) and `batches` (id -> the batch object).
"""

from __future__ import annotations

import itertools
import json
import time

from aiohttp import web
from loopback import LoopbackServer, Reply, Request, _completion, default_rule


class BatchLoopbackServer(LoopbackServer):
    def __init__(self, *, polls_before_done: int = 1, held: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.polls_before_done = polls_before_done
        self.held = held
        self.expire_after: int | None = None
        self.cancel_after: int | None = None
        self.fail_batches = False
        self.end_batches: int | None = None
        self._ended = 0
        self.files: dict[str, dict] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self._polls: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.uploads = self.batch_creations = self.retrievals = self.content_reads = self.list_calls = self.lines = 0

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._create_file)
        app.router.add_get("/v1/files/{file_id}", self._get_file)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_post("/v1/batches", self._create_batch)
        app.router.add_get("/v1/batches", self._list_batches)
        app.router.add_get("/v1/batches/{batch_id}", self._get_batch)

    # -- files ----------------------------------------------------------------------------------
    def _new_file(self, data: bytes, filename: str, purpose: str) -> dict:
        fid = f"file-loop{next(self._ids)}"
        obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()), "filename": filename,
               "purpose": purpose, "status": "processed"}
        self.files[fid] = obj
        self.contents[fid] = data
        return obj

    async def _create_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return web.json_response({"error": {"message": "no file"}}, status=400)
        self.uploads += 1
        return web.json_response(self._new_file(upload.file.read(), upload.filename or "upload.jsonl", str(form.get("purpose") or "batch")))

    async def _get_file(self, request: web.Request) -> web.Response:
        obj = self.files.get(request.match_info["file_id"])
        return web.json_response(obj) if obj else web.json_response({"error": {"message": "no such file"}}, status=404)

    async def _file_content(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        if fid not in self.contents:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        self.content_reads += 1
        return web.Response(body=self.contents[fid], content_type="application/octet-stream")

    # -- batches --------------------------------------------------------------------------------
    async def _create_batch(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        fid = body.get("input_file_id")
        if fid not in self.files:
            return web.json_response({"error": {"message": f"no such file {fid}"}}, status=400)
        self.batch_creations += 1
        bid = f"batch_loop{next(self._ids)}"
        now = int(time.time())
        self.batches[bid] = {
            "id": bid, "object": "batch", "endpoint": body.get("endpoint"), "errors": None, "input_file_id": fid,
            "completion_window": body.get("completion_window", "24h"), "status": "validating", "output_file_id": None,
            "error_file_id": None, "created_at": now, "in_progress_at": None, "expires_at": now + 86400, "finalizing_at": None,
            "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata"),
        }
        self._polls[bid] = 0
        return web.json_response(self.batches[bid])

    async def _list_batches(self, request: web.Request) -> web.Response:
        self.list_calls += 1
        data = list(reversed(self.batches.values()))
        return web.json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None, "has_more": False})

    async def _get_batch(self, request: web.Request) -> web.Response:
        bid = request.match_info["batch_id"]
        b = self.batches.get(bid)
        if b is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        self.retrievals += 1
        if b["status"] in ("validating", "in_progress"):
            self._polls[bid] += 1
            b["status"], b["in_progress_at"] = "in_progress", b["in_progress_at"] or int(time.time())
            if not self.held and self._polls[bid] > self.polls_before_done:
                self._finish(b)
        return web.json_response(b)

    def _finish(self, b: dict) -> None:
        now = int(time.time())
        ends = self.end_batches is None or self._ended < self.end_batches
        fail = self.fail_batches and ends
        cut, code = ((self.expire_after, "batch_expired") if self.expire_after is not None else (self.cancel_after, "batch_cancelled")) if ends else (None, "")
        if (fail or cut is not None) and self.end_batches is not None:
            self._ended += 1
        if fail:
            b.update(status="failed", failed_at=now, errors={"object": "list", "data": [{"code": "invalid_request", "message": "loopback: batch refused", "line": 1}]})
            return
        out, err = [], []
        lines = [json.loads(x) for x in self.contents[b["input_file_id"]].decode().splitlines() if x.strip()]
        for n, line in enumerate(lines):
            if cut is not None and n >= cut:
                err.append({"id": f"batch_req_{n}", "custom_id": line.get("custom_id"), "response": None,
                            "error": {"code": code, "message": "This request could not be executed before the batch ended."}})
                continue
            status, body = self._answer_line(line.get("body") or {})
            row = {"id": f"batch_req_{n}", "custom_id": line.get("custom_id"), "response": {"status_code": status, "request_id": f"req_{n}", "body": body}, "error": None}
            (out if status == 200 else err).append(row)
        b["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}
        if out:
            b["output_file_id"] = self._new_file(_jsonl(out), "batch_output.jsonl", "batch_output")["id"]
        if err:
            b["error_file_id"] = self._new_file(_jsonl(err), "batch_errors.jsonl", "batch_output")["id"]
        if cut is not None and len(lines) > cut:
            b.update(**({"status": "expired", "expired_at": now} if code == "batch_expired" else {"status": "cancelled", "cancelled_at": now}))
        else:
            b.update(status="completed", finalizing_at=now, completed_at=now)

    def _answer_line(self, body: dict) -> tuple[int, dict]:
        """(HTTP status, body) of one batch line: what `/v1/chat/completions` would answer."""
        index = self.requests
        self.requests += 1
        self.lines += 1
        if self.record:
            self.bodies.append(body)
        req = Request(index, "/v1/chat/completions", body, str(body.get("model", "")), list(body.get("messages") or []))
        reply = None
        if self.hook is not None:
            got = self.hook(req)
            reply = Reply(text=got) if isinstance(got, str) else got
        if reply is not None and (reply.fault is not None or reply.status != 200):
            status = reply.status if reply.status != 200 else 500
            self.counts[str(status)] += 1
            return status, {"error": {"message": reply.error or f"scripted status {status}", "type": "scripted"}}
        text = reply.text if reply is not None and reply.text is not None else default_rule(req)
        self.counts["hook" if reply is not None else "ok"] += 1
        chars = sum(len(str(m.get("content") or "")) for m in req.messages)
        tin = reply.input_tokens if reply is not None and reply.input_tokens is not None else max(1, chars // 4)
        tout = reply.output_tokens if reply is not None and reply.output_tokens is not None else max(1, len(text) // 4)
        return 200, _completion(req.model, text, tin, tout, index)


def _jsonl(rows: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def main() -> None:
    """Run standalone: prints `PORT <n>`, serves until stdin closes (for a subprocess test's server)."""
    import sys

    srv = BatchLoopbackServer().start()
    print(f"PORT {srv.port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
