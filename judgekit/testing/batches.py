"""A minimal Files and Batches API kept in memory, its lines answered like chat requests."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judgekit.testing.chat import estimate_tokens, message_texts
from judgekit.testing.http import Request, Response, error_response, parse_multipart

if TYPE_CHECKING:
    from judgekit.testing.server import JudgeServer

_FILE_ROUTE = re.compile(rb"^/v1/files/([^/]+)(/content)?$")
_BATCH_ROUTE = re.compile(rb"^/v1/batches/([^/]+)(/cancel)?$")
_BATCH_ENDPOINT = "/v1/chat/completions"
_BATCH_FINISHED = frozenset({"completed", "expired", "cancelled", "failed"})
_MAX_BATCH_REQUESTS = 50_000
_UNRUN = {
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
}
_FILE_PURPOSES = frozenset({"batch", "fine-tune", "assistants", "vision", "user_data", "evals"})


@dataclass(frozen=True, slots=True)
class _StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


class BatchApi:
    """Files and batches kept in memory; batch lines answered by the server's chat logic."""

    def __init__(self, server: JudgeServer) -> None:
        self._server = server
        self._files: dict[str, _StoredFile] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._ids = 0

    def snapshot(self) -> list[dict[str, Any]]:
        """The batch objects created so far, in creation order (copies)."""
        return [json.loads(json.dumps(batch)) for batch in list(self._batches.values())]

    def dispatch(self, request: Request, body: bytes) -> Response:
        """Answer a request under ``/v1/files`` or ``/v1/batches``."""
        method, path = request.method, request.path
        if (method, path) == (b"POST", b"/v1/files"):
            return self._upload(request.headers.get(b"content-type", b"").decode("latin-1"), body)
        if (method, path) == (b"POST", b"/v1/batches"):
            return self._create(body)
        file_match, batch_match = _FILE_ROUTE.match(path), _BATCH_ROUTE.match(path)
        if method == b"GET" and file_match:
            return self._file(file_match.group(1).decode("latin-1"), content=bool(file_match.group(2)))
        if batch_match and (method, bool(batch_match.group(2))) in ((b"GET", False), (b"POST", True)):
            batch_id = batch_match.group(1).decode("latin-1")
            return self._cancel(batch_id) if batch_match.group(2) else self._retrieve(batch_id)
        return error_response(404, f"Invalid URL ({method.decode('latin-1')} {path.decode('latin-1')})")

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def _store(self, filename: str, purpose: str, content: bytes) -> _StoredFile:
        stored = _StoredFile(self._next_id("file-judgekit-"), filename, purpose, content, int(time.time()))
        self._files[stored.id] = stored
        return stored

    def _upload(self, content_type: str, body: bytes) -> Response:
        try:
            parts = parse_multipart(content_type, body)
        except ValueError as exc:
            return error_response(400, f"Could not parse the multipart form: {exc}.")
        purpose, upload = parts.get("purpose"), parts.get("file")
        if upload is None or upload[0] is None:
            return error_response(400, "Missing required parameter: 'file'.", param="file")
        if purpose is None or purpose[1].decode() not in _FILE_PURPOSES:
            return error_response(400, "Missing or invalid parameter: 'purpose'.", param="purpose")
        stored = self._store(upload[0], purpose[1].decode(), upload[1])
        return Response(200, json.dumps(stored.describe()).encode())

    def _file(self, file_id: str, *, content: bool) -> Response:
        stored = self._files.get(file_id)
        if stored is None:
            return error_response(404, f"No such File object: {file_id}", param="id")
        if content:
            return Response(200, stored.content, content_type=b"application/octet-stream")
        return Response(200, json.dumps(stored.describe()).encode())

    def _create(self, raw: bytes) -> Response:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return error_response(400, "We could not parse the JSON body of your request.")
        stored = self._files.get(str(payload.get("input_file_id")))
        if stored is None or stored.purpose != "batch":
            return error_response(400, "input_file_id must name an uploaded file with purpose 'batch'.")
        if payload.get("endpoint") != _BATCH_ENDPOINT:
            return error_response(
                400, f"endpoint must be {_BATCH_ENDPOINT} on this server.", param="endpoint"
            )
        if payload.get("completion_window") != "24h":
            return error_response(400, "completion_window must be '24h'.", param="completion_window")
        now = int(time.time())
        batch: dict[str, Any] = {
            "id": self._next_id("batch_judgekit_"),
            "object": "batch",
            "endpoint": _BATCH_ENDPOINT,
            "errors": None,
            "input_file_id": stored.id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86_400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": payload.get("metadata"),
        }
        self._batches[batch["id"]] = batch
        self._polls[batch["id"]] = 0
        return Response(200, json.dumps(batch).encode())

    def _retrieve(self, batch_id: str) -> Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            return error_response(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        if batch["status"] == "cancelling":
            self._run(batch, answered=0, final="cancelled")
        elif batch["status"] not in _BATCH_FINISHED:
            if self._polls[batch_id] < self._server.batch_polls:
                self._polls[batch_id] += 1
                batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
            else:
                self._run(batch, answered=None, final="completed")
        return Response(200, json.dumps(batch).encode())

    def _cancel(self, batch_id: str) -> Response:
        batch = self._batches.get(batch_id)
        if batch is None:
            return error_response(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        if batch["status"] in _BATCH_FINISHED:
            return error_response(409, f"Cannot cancel a batch with status '{batch['status']}'.")
        batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
        return Response(200, json.dumps(batch).encode())

    def _run(self, batch: dict[str, Any], *, answered: int | None, final: str) -> None:
        """Answer the batch's lines and finish it; `answered` None means all (or half if expiring)."""
        now = int(time.time())
        lines, problems = _batch_lines(self._files[batch["input_file_id"]].content)
        if problems:
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": problems})
            return
        if answered is None and self._server.expire_batches:
            answered, final = len(lines) // 2, "expired"
        answered = len(lines) if answered is None else answered
        outputs: list[bytes] = []
        errors: list[bytes] = []
        for index, line in enumerate(lines):
            if index < answered:
                status, body = self._answer(line)
                response: dict[str, Any] | None = {
                    "status_code": status,
                    "request_id": self._next_id("req_judgekit_"),
                    "body": body,
                }
                error = None
            else:
                code, message = _UNRUN[final]
                response, error = None, {"code": code, "message": message}
                status = 0
            entry = {"id": self._next_id("batch_req_"), "custom_id": line["custom_id"], "response": response}
            entry["error"] = error
            (outputs if status == 200 else errors).append(json.dumps(entry).encode() + b"\n")
        for key, kept, purpose in (
            ("output_file_id", outputs, "batch_output"),
            ("error_file_id", errors, "batch_output"),
        ):
            if kept:
                batch[key] = self._store(f"{batch['id']}_{key[:-8]}.jsonl", purpose, b"".join(kept)).id
        counts = {"total": len(lines), "completed": len(outputs), "failed": len(errors)}
        batch.update(status=final, request_counts=counts, in_progress_at=batch["in_progress_at"] or now)
        batch.update(finalizing_at=now, **{f"{final}_at": now})

    def _answer(self, line: dict[str, Any]) -> tuple[int, Any]:
        if line["custom_id"] in self._server.batch_failures:
            return 500, {"error": {"message": "Scripted batch line failure.", "type": "server_error"}}
        payload = line["body"]
        texts = message_texts(payload.get("messages"))
        _, response = self._server._chat_reply(payload, texts, estimate_tokens(sum(map(len, texts))))
        if response is None:
            return 500, {"error": {"message": "The request was dropped.", "type": "server_error"}}
        return response.status, json.loads(response.body)


def _batch_lines(content: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The input file's request lines, and validation problems (any problem fails the batch)."""
    lines: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        problem = _line_problem(line, seen)
        if problem is not None:
            problems.append({"code": problem[0], "message": problem[1], "param": None, "line": number})
            continue
        assert isinstance(line, dict)
        seen.add(line["custom_id"])
        lines.append(line)
    if not lines and not problems:
        problems.append(
            {"code": "empty_file", "message": "The input file is empty.", "param": None, "line": None}
        )
    if len(lines) > _MAX_BATCH_REQUESTS:
        message = f"The input file has {len(lines)} requests; the limit is {_MAX_BATCH_REQUESTS}."
        problems.append({"code": "too_many_requests", "message": message, "param": None, "line": None})
    return lines, problems


def _line_problem(line: Any, seen: set[str]) -> tuple[str, str] | None:
    if not isinstance(line, dict):
        return "invalid_json_line", "This line is not a JSON object."
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str):
        return "missing_custom_id", "Each line needs a string custom_id."
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id {custom_id!r} is repeated."
    if line.get("method") != "POST" or line.get("url") != _BATCH_ENDPOINT:
        return "invalid_url", f"Each line must POST to {_BATCH_ENDPOINT}."
    if not isinstance(line.get("body"), dict):
        return "invalid_body", "Each line needs a JSON object body."
    return None
