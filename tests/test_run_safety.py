"""A run never destroys the user's data, never leaks a secret, and tells the truth in its exit code."""

from __future__ import annotations

import gc
import gzip
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from runs import score_command, server_args, write_rows

from judgekit import JudgeConfig, score
from judgekit._engine.cache import ReplyCache
from judgekit._errors import ConfigError, JudgeError
from judgekit.cli import main
from judgekit.testing import Fault, JudgeServer

SECRET = "sk-test-0123456789abcdefSECRET"


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def _statuses(path: Path) -> dict[str, str]:
    return {row["id"]: row["status"] for row in map(json.loads, path.read_text().splitlines())}


# -- the output is never the input -------------------------------------------------------------


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link"])
@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_an_output_that_is_the_input_is_refused_whatever_the_flags(
    tmp_path: Path, how: str, flag: str
) -> None:
    source = write_rows(tmp_path / "in.jsonl", 40)
    before = source.read_bytes()
    output = source
    if how == "symlink":
        output = tmp_path / "link.jsonl"
        output.symlink_to(source)
    elif how == "hard link":
        output = tmp_path / "hard.jsonl"
        os.link(source, output)
    code, _, err = _run("score", str(source), "-o", str(output), "--rubric", "refusal-keywords", flag)
    assert code == 1 and "the output is the input" in err and "--overwrite" not in err
    assert source.read_bytes() == before


# -- one run at a time per output --------------------------------------------------------------


def test_a_second_run_into_a_locked_output_stops_at_once_naming_the_holder(tmp_path: Path) -> None:
    from judgekit._results import claimed_output

    source = write_rows(tmp_path / "in.jsonl", 5)
    output = tmp_path / "out.jsonl"
    with claimed_output(str(source), str(output)):
        started = time.monotonic()
        code, _, err = _run("score", str(source), "-o", str(output), "--rubric", "refusal-keywords")
        assert time.monotonic() - started < 5
    assert code == 1 and f"pid {os.getpid()}" in err and "another judgekit run" in err
    assert not output.exists()
    assert not (tmp_path / "out.jsonl.lock").exists(), "the lock file goes with the run"
    code, _, err = _run("score", str(source), "-o", str(output), "--rubric", "refusal-keywords")
    assert code == 0, err


def test_two_runs_at_once_write_every_id_once(tmp_path: Path) -> None:
    """Worker processes included: the first run holds the lock until its workers are done."""
    with JudgeServer(latency_s=0.1) as server:
        source = write_rows(tmp_path / "in.jsonl", 200)
        output = tmp_path / "out.jsonl"
        command = score_command(source, output, server, "--processes", "2", "--concurrency", "4")
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not output.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        _, first_err = first.communicate(timeout=60)
        assert first.returncode == 0, first_err
    assert second.returncode == 1 and f"pid {first.pid}" in second.stderr
    assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(200))


# -- secrets -----------------------------------------------------------------------------------


def test_credentials_in_the_base_url_are_refused_and_never_repeated(
    tmp_path: Path, server: JudgeServer
) -> None:
    url = server.url.replace("http://", f"http://user:{SECRET}@")
    source = write_rows(tmp_path / "in.jsonl", 2)
    for transport in ("aiohttp", "sdk"):
        code, out, err = _run(
            "score", str(source), "-o", str(tmp_path / "o.jsonl"), "--model", "m", "--base-url", url,
            "--transport", transport,
        )  # fmt: skip
        assert code == 2 and "holds credentials" in err and SECRET not in out + err
    code, out, err = _run(
        "batch",
        "prepare",
        str(source),
        "--out-dir",
        str(tmp_path / "batch"),
        "--model",
        "m",
        "--base-url",
        url,
    )
    assert code != 0 and SECRET not in out + err
    assert not any(SECRET in p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert server.request_count == 0
    with pytest.raises(ValueError, match="holds credentials") as caught:
        JudgeConfig(base_url=url)
    assert SECRET not in str(caught.value)


def test_a_key_the_server_echoes_is_redacted_from_verdicts_and_messages(tmp_path: Path) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}; header Bearer {SECRET}"}}
    with JudgeServer() as server:
        server.reply_by_marker = {
            "[row-0]": Fault.status(400, body=echo),
            "[row-1]": Fault.status(500, body=echo),
        }
        source = write_rows(tmp_path / "in.jsonl", 3)
        output = tmp_path / "out.jsonl"
        code, out, err = _run(
            "score", str(source), "-o", str(output), *server_args(server), "--max-retries", "0",
            env={"OPENAI_API_KEY": SECRET},
        )  # fmt: skip
        assert code == 0, err
        text = output.read_text()
        assert SECRET not in text + out + err and "[redacted]" in text
        verdicts = score(["[row-0] a"], model="m", base_url=server.url, api_key=SECRET, max_retries=0)
        assert verdicts[0].error is not None and SECRET not in verdicts[0].error
    with JudgeServer() as keyed:
        keyed.reply_by_marker = {"[row-": Fault.status(401, body=echo)}
        code, out, err = _run(
            "score", str(source), "-o", str(tmp_path / "o2.jsonl"), *server_args(keyed),
            env={"OPENAI_API_KEY": SECRET},
        )  # fmt: skip
        assert code == 3 and SECRET not in out + err
        with pytest.raises(JudgeError) as caught:
            score(["[row-0]"], model="m", base_url=keyed.url, api_key=SECRET)
        assert SECRET not in str(caught.value)


# -- exit codes --------------------------------------------------------------------------------


def test_a_run_with_no_row_judged_ok_exits_4(tmp_path: Path, server: JudgeServer) -> None:
    server.default_text = "I cannot say."
    source = write_rows(tmp_path / "in.jsonl", 5)
    output = tmp_path / "out.jsonl"
    code, _, err = _run(
        "score", str(source), "-o", str(output), *server_args(server), "--output-mode", "text"
    )
    assert code == 4 and "no row was judged" in err and "5 parse_error" in err
    assert "--retry-errors" in err and len(_ids(output)) == 5


def test_max_error_rate_fails_a_run_above_it(tmp_path: Path, server: JudgeServer) -> None:
    server.reply_by_marker = {"[row-1]": Fault.status(400)}
    source = write_rows(tmp_path / "in.jsonl", 4)
    common = ("score", str(source), "-o", str(tmp_path / "out.jsonl"), *server_args(server))
    code, _, err = _run(*common, "--max-error-rate", "0.2")
    assert code == 4 and "1 of 4 rows failed (25.0%)" in err
    code, _, err = _run(*common, "--max-error-rate", "0.3")
    assert code == 0 and "1 rows failed" in err and "--retry-errors" in err


# -- --retry-errors ----------------------------------------------------------------------------


def test_retry_errors_rejudges_failed_rows_in_place(tmp_path: Path, server: JudgeServer) -> None:
    server.reply_by_marker = {"[row-1]": Fault.status(400), "[row-3]": Fault.status(400)}
    source = write_rows(tmp_path / "in.jsonl", 6)
    output = tmp_path / "out.jsonl"
    common = ("score", str(source), "-o", str(output), *server_args(server))
    assert _run(*common)[0] == 0
    order = _ids(output)
    assert [i for i, s in _statuses(output).items() if s != "ok"] == ["r1", "r3"]
    code, _, err = _run(*common)
    assert code == 0 and server.request_count == 6, "a plain rerun counts failed rows as done"
    server.reply_by_marker = {}
    code, _, err = _run(*common, "--retry-errors")
    assert code == 0, err
    assert server.request_count == 8, "only the two failed rows are sent again"
    assert _ids(output) == order, "their lines are replaced in place, no id twice"
    assert set(_statuses(output).values()) == {"ok"} and "rows failed" not in err
    assert not (tmp_path / "out.jsonl.retry").exists()


def test_retry_errors_with_processes(tmp_path: Path, server: JudgeServer) -> None:
    server.reply_by_marker = {f"[row-{i}]": Fault.status(400) for i in range(0, 40, 7)}
    source = write_rows(tmp_path / "in.jsonl", 40)
    output = tmp_path / "out.jsonl"
    common = ("score", str(source), "-o", str(output), *server_args(server), "--processes", "2")
    assert _run(*common)[0] == 0
    server.reply_by_marker = {}
    code, _, err = _run(*common, "--retry-errors")
    assert code == 0, err
    assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(40))
    assert set(_statuses(output).values()) == {"ok"}


def test_retry_errors_output_stays_valid_after_kill_9_anywhere(tmp_path: Path) -> None:
    rows = 120
    source = write_rows(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"
    with JudgeServer() as server:
        server.reply_by_marker = {f"[row-{i}]": Fault.status(400) for i in range(0, rows, 2)}
        assert (
            subprocess.run(score_command(source, output, server), capture_output=True, check=False).returncode
            == 0
        )
        server.reply_by_marker = {}
        server.latency_s = 0.01
        command = score_command(source, output, server, "--retry-errors", "--concurrency", "4")
        for delay in (0.3, 0.6, 0.9, 1.2):
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(rows)), f"after a kill at {delay}s"
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(rows))
    assert set(_statuses(output).values()) == {"ok"}


def test_merge_of_retried_verdicts_is_idempotent_and_survives_a_torn_staging_file(tmp_path: Path) -> None:
    from judgekit._results import merge_retried

    output, retried = tmp_path / "out.jsonl", tmp_path / "out.jsonl.retry"
    row = {"rubric_hash": "h", "rubric": "r"}
    output.write_text(
        "".join(json.dumps({**row, "id": f"r{i}", "status": "api_error"}) + "\n" for i in range(3))
    )
    retried.write_text(json.dumps({**row, "id": "r1", "status": "ok"}) + "\n" + '{"id": "r2", "sta')
    (tmp_path / "out.jsonl.merging").write_text('{"id": "r0"')  # a merge killed midway
    assert merge_retried(output, retried) == 1
    assert _statuses(output) == {"r0": "api_error", "r1": "ok", "r2": "api_error"}
    assert not retried.exists() and merge_retried(output, retried) == 0


# -- seeing what a run does --------------------------------------------------------------------


def test_plain_progress_lines_off_a_terminal_and_quiet(tmp_path: Path) -> None:
    with JudgeServer(latency_s=0.05) as server:
        server.script(Fault.status(500))
        source = write_rows(tmp_path / "in.jsonl", 30)
        base = ("score", str(source), *server_args(server), "--concurrency", "2")
        code, _, err = _run(*base, "-o", str(tmp_path / "a.jsonl"), "--progress-interval", "0.2")
        assert code == 0, err
        lines = [line for line in err.splitlines() if line.startswith("progress: ")]
        assert len(lines) >= 2 and "retries" in lines[0] and "concurrency 2" in lines[0]
        assert "1 retries" in err and "records into" in err and "s; " in err
        code, _, err = _run(*base, "-o", str(tmp_path / "b.jsonl"), "--progress-interval", "0.2", "--quiet")
        assert code == 0 and "progress: " not in err


def test_terminal_progress_line_is_ended_before_the_final_message(tmp_path: Path) -> None:
    script = "import sys; sys.stderr.isatty = lambda: True; from judgekit.cli import main; main()"
    source = write_rows(tmp_path / "in.jsonl", 5)
    completed = subprocess.run(
        [sys.executable, "-c", script, "score", str(source), "-o", str(tmp_path / "o.jsonl"), "--rubric",
         "refusal-keywords"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    progress, _ = completed.stderr.split(b"judged 5 records")
    assert progress.startswith(b"\r5/5 records") and progress.endswith(b"\n")


def test_dry_run_needs_no_key_and_hints_at_prices(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 3)
    code, out, err = _run(
        "score", str(source), "-o", str(tmp_path / "o.jsonl"), "--dry-run", "--model", "my-llm"
    )
    assert code == 0, err
    assert "nothing was sent" in out and "--price-in and --price-out" in out


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 3)
    code, _, err = _run(
        "score", str(source), "-o", str(tmp_path / "o.jsonl"), "--rubric", "refusal-keywords",
        env={"JUDGEKIT_CONCURRENCY": "abc"},
    )  # fmt: skip
    assert code == 2 and "JUDGEKIT_CONCURRENCY" in err


def test_help_lists_the_environment_variables() -> None:
    code, out, _ = _run("score", "--help")
    assert code == 0
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "JUDGEKIT_MODEL",
        "JUDGEKIT_CONCURRENCY",
        "HTTPS_PROXY",
    ):
        assert name in out, name
    assert "Exit codes" in out and "4 no row judged ok" in out


# -- clean errors instead of tracebacks --------------------------------------------------------


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _gzip_truncated(path: Path) -> Path:
    rows = b"".join(
        b'{"id": %d, "response": "%s"}\n' % (i, os.urandom(16).hex().encode()) for i in range(2000)
    )
    data = gzip.compress(rows)
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep.jsonl", '{"id": 1, "response": "x", "m": ' + _deep(100_000) + "}\n", "nested too deeply"),
        ("big.jsonl", '{"id": 1, "response": "x", "m": ' + "7" * 5000 + "}\n", "4300 digits"),
        ("null.jsonl", '{"id": 1, "response": null}\n', "field 'response': is null"),
        ("plain.jsonl.gz", '{"id": 1, "response": "x"}\n', "named .gz but is not gzip"),
        ("table.csv", "id,response\n1,hello\n", "looks like CSV, but the input must be JSONL"),
    ],
)
@pytest.mark.parametrize("processes", ["1", "2"])
def test_bad_input_is_a_clean_error_in_one_process_or_several(
    tmp_path: Path, server: JudgeServer, name: str, content: str, expected: str, processes: str
) -> None:
    source = tmp_path / name
    source.write_text(content)
    code, _, err = _run(
        "score", str(source), "-o", str(tmp_path / "o.jsonl"), *server_args(server), "--processes", processes
    )
    assert code == 1 and expected in err and f"{name}:1:" in err, err
    assert "Traceback" not in err and "died" not in err and server.request_count == 0


def test_a_truncated_gzip_input_names_the_line(tmp_path: Path) -> None:
    source = _gzip_truncated(tmp_path / "in.jsonl.gz")
    code, _, err = _run("score", str(source), "-o", str(tmp_path / "o.jsonl"), "--rubric", "refusal-keywords")
    assert code == 1 and "truncated or damaged" in err and "Aborted" not in err


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [(json.loads(_deep(300)), "nested too deeply"), ("\ud800", "lone UTF-16 surrogate")],
)
@pytest.mark.parametrize("processes", ["1", "2"])
def test_include_input_metadata_that_cannot_be_written_fails_before_any_request(
    tmp_path: Path, server: JudgeServer, metadata: object, expected: str, processes: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": "a", "response": "x"})
        + "\n"
        + json.dumps({"id": "b", "response": "y", "m": metadata})
        + "\n"
    )
    output = tmp_path / "o.jsonl"
    common = ("score", str(source), "-o", str(output), *server_args(server), "--processes", processes)
    code, _, err = _run(*common, "--include-input")
    assert code == 1 and expected in err and "in.jsonl:2:" in err and "--include-input" in err
    assert server.request_count == 0 and not output.exists()
    assert _run(*common)[0] == 0, "without --include-input the metadata is never written"


def test_an_output_in_a_missing_directory_is_a_clean_error(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 2)
    code, _, err = _run(
        "score", str(source), "-o", str(tmp_path / "no" / "o.jsonl"), "--rubric", "refusal-keywords"
    )
    assert code == 1 and "does not exist" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_output_is_a_clean_error(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 2)
    output = tmp_path / "o.jsonl"
    output.write_text("")
    output.chmod(0o444)
    code, _, err = _run("score", str(source), "-o", str(output), "--rubric", "refusal-keywords")
    assert code == 1 and "cannot write to the output" in err


def test_an_immutable_output_is_a_clean_error(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 2)
    output = tmp_path / "o.jsonl"
    output.write_text("")
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(output)], check=False).returncode
    ):
        pytest.skip("chattr +i needs CAP_LINUX_IMMUTABLE")
    try:
        code, _, err = _run("score", str(source), "-o", str(output), "--rubric", "refusal-keywords")
    finally:
        subprocess.run(["chattr", "-i", str(output)], check=True)
    assert code == 1 and "cannot write to the output: Operation not permitted" in err


def _damaged_cache(path: Path) -> Path:
    with ReplyCache(path) as cache:
        cache.put_many((f"k{i}", {"text": os.urandom(400).hex()}) for i in range(2000))
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 4, len(data) - 4096, 4096 * 3):
        data[offset : offset + 256] = os.urandom(256)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_damaged_cache_says_to_move_it_aside(tmp_path: Path, server: JudgeServer, processes: str) -> None:
    cache = _damaged_cache(tmp_path / "replies.sqlite")
    source = write_rows(tmp_path / "in.jsonl", 10)
    code, _, err = _run(
        "score", str(source), "-o", str(tmp_path / "o.jsonl"), *server_args(server), "--cache", str(cache),
        "--processes", processes,
    )  # fmt: skip
    assert code == 1 and "is damaged" in err and f"mv {cache} {cache}.damaged" in err
    assert "died" not in err and "Traceback" not in err


def test_a_full_cache_stops_cleanly(
    tmp_path: Path, server: JudgeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    switch = ReplyCache._switch_to_wal

    def small(self: ReplyCache) -> None:
        switch(self)
        self._db.execute("PRAGMA max_page_count=8")

    monkeypatch.setattr(ReplyCache, "_switch_to_wal", small)
    server.default_text = json.dumps({"reasoning": "x" * 3000, "score": 1})
    source = write_rows(tmp_path / "in.jsonl", 50)
    code, _, err = _run(
        "score", str(source), "-o", str(tmp_path / "o.jsonl"), *server_args(server), "--output-mode", "text",
        "--cache", str(tmp_path / "c.sqlite"), "--processes", "1",
    )  # fmt: skip
    gc.collect()
    assert code == 1 and "is full" in err and "--no-cache" in err
    assert "Unclosed" not in caplog.text + err


def test_several_processes_can_create_one_new_cache_at_once(tmp_path: Path) -> None:
    """Before the fix, about one trial in ten failed with "database is locked" on the WAL pragma."""
    context = multiprocessing.get_context("fork")
    trials, count = 100, 4
    barrier = context.Barrier(count, timeout=10)
    paths = [tmp_path / f"c{trial}.sqlite" for trial in range(trials)]
    processes = [context.Process(target=_open_caches, args=(paths, barrier)) for _ in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert [p.exitcode for p in processes] == [0] * count


def _open_caches(paths: list[Path], barrier: Any) -> None:
    for path in paths:
        try:
            barrier.wait()
            ReplyCache(path).close()
        except (ConfigError, threading.BrokenBarrierError):
            barrier.abort()
            os._exit(1)


# -- proxies -----------------------------------------------------------------------------------


class _Proxy:
    """A forward HTTP proxy on 127.0.0.1 that counts what it forwards."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as reader:
            method, target, version = reader.readline().decode().split()
            headers = []
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                if name.lower() not in ("connection", "proxy-connection"):
                    headers.append(line)
            body = reader.read(length)
            parts = urlsplit(target)
            self.forwarded.append(target)
            with socket.create_connection((parts.hostname, parts.port)) as upstream:
                request = f"{method} {parts.path}{'?' + parts.query if parts.query else ''} {version}\r\n"
                upstream.sendall(request.encode() + b"".join(headers) + b"Connection: close\r\n\r\n" + body)
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)

    def close(self) -> None:
        self._socket.close()


def test_the_default_transport_honours_http_proxy_and_no_proxy(
    tmp_path: Path, server: JudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _Proxy()
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        verdicts = score(["a", "b"], model="m", base_url=server.url)
        assert [v.status for v in verdicts] == ["ok", "ok"]
        assert len(proxy.forwarded) == 2 and proxy.forwarded[0].startswith(server.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert score(["c"], model="m", base_url=server.url)[0].status == "ok"
        assert len(proxy.forwarded) == 2 and server.request_count == 3
    finally:
        proxy.close()


# -- rubric templates and messages -------------------------------------------------------------

TEMPLATES = {
    "include": (
        '{% block system %}{% include "policy.jinja" %}{% endblock %}{% block user %}x{% endblock %}',
        1,
    ),
    "range": (
        "{% block system %}ok{% endblock %}{% block user %}\n\n{{ range(10**9) | list }}{% endblock %}",
        3,
    ),
    "syntax": ("{% block system %}\nok\n{{ oops( }}{% endblock %}{% block user %}x{% endblock %}", 3),
    "method": ("{% block system %}ok{% endblock %}{% block user %}\n{{ response.nope() }}{% endblock %}", 2),
}


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_a_broken_user_template_is_a_rubric_error_naming_template_and_line(tmp_path: Path, kind: str) -> None:
    source, line = TEMPLATES[kind]
    (tmp_path / "t.jinja").write_text(source)
    rubric = tmp_path / "t.toml"
    rubric.write_text('extends = "policy"\nname = "t"\nprompt = "t.jinja"\n')
    code, _, err = _run("rubrics", "show", str(rubric))
    assert code == 1 and "t.jinja" in err and f"line {line}" in err, err
    records = write_rows(tmp_path / "in.jsonl", 2)
    with JudgeServer() as server:
        code, _, err = _run(
            "score",
            str(records),
            "-o",
            str(tmp_path / "o.jsonl"),
            *server_args(server),
            "--rubric",
            str(rubric),
        )
        assert code == 1 and "t.jinja" in err and f"line {line}" in err and server.request_count == 0


def test_unknown_rubric_suggests_the_closest(tmp_path: Path) -> None:
    code, _, err = _run(
        "score", str(write_rows(tmp_path / "in.jsonl", 1)), "-o", "o.jsonl", "--rubric", "polcy"
    )
    assert code == 1 and "did you mean 'policy'?" in err


def test_missing_endpoint_message_reads_well(tmp_path: Path) -> None:
    code, _, err = _run("score", str(write_rows(tmp_path / "in.jsonl", 1)), "-o", str(tmp_path / "o.jsonl"))
    assert code == 1 and "no a " not in err and "no an " not in err
    assert "is missing a judge model" in err and "and an endpoint" in err


def test_the_test_server_on_a_busy_port_is_a_clean_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        completed = subprocess.run(
            [sys.executable, "-m", "judgekit.testing", "--port", str(port)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert completed.returncode == 1 and f"127.0.0.1:{port} is in use" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("processes", ["1", "2"])
def test_records_without_ids_are_named_in_the_summary(tmp_path: Path, processes: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"response": "a"}\n{"response": "b"}\n{"id": "x", "response": "c"}\n')
    output = tmp_path / "o.jsonl"
    code, _, err = _run(
        "score", str(source), "-o", str(output), "--rubric", "refusal-keywords", "--processes", processes
    )
    assert code == 0 and "2 records had no id field: their line numbers are their ids" in err
    assert sorted(_ids(output)) == ["1", "2", "x"]


def test_a_file_size_limit_mid_run_is_a_clean_error_and_the_rerun_resumes(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.jsonl", 3000)
    output = tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "judgekit",
        "score",
        str(source),
        "-o",
        str(output),
        "--rubric",
        "refusal-keywords",
    ]

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))

    limited = subprocess.run(command, capture_output=True, text=True, check=False, preexec_fn=small_files)
    assert limited.returncode == 5 and "could not write verdicts (File too large)" in limited.stderr
    assert "Traceback" not in limited.stderr and output.stat().st_size <= 20_000
    assert output.read_bytes().endswith(b"\n") or not output.read_bytes()  # whole lines only
    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(_ids(output)) == sorted(f"r{i}" for i in range(3000))
