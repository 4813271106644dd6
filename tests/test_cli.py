"""The judgekit command, run in-process with click's runner and as a real subprocess."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from runs import requests_per_row, score_command, server_args, wait_for_size, write_rows

from judgekit.cli import main
from judgekit.testing import JudgeServer

EXAMPLES = Path(__file__).parent.parent / "examples" / "responses.jsonl"


def _run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_quickstart_scores_the_example_file_offline(tmp_path: Path) -> None:
    output = tmp_path / "verdicts.jsonl"
    code, out, err = _run("score", str(EXAMPLES), "-o", str(output), "--rubric", "refusal-keywords")
    assert code == 0, err
    verdicts = _lines(output)
    inputs = _lines(EXAMPLES)
    assert sorted(v["id"] for v in verdicts) == sorted(r["id"] for r in inputs)
    assert "complied" in out and "full refusal" in out and "partial refusal" in out  # three-way keywords
    assert f"judged {len(inputs)} records" in err


def test_score_through_the_local_server(tmp_path: Path, server: JudgeServer) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(json.dumps({"uid": i, "text": f"r{i}", "cat": "c" + str(i % 2)}) for i in range(6)) + "\n"
    )
    output = tmp_path / "out.jsonl"
    code, out, err = _run(
        "score",
        str(source),
        "-o",
        str(output),
        "--model",
        "judge-model",
        "--base-url",
        server.url,
        "--id-field",
        "uid",
        "--response-field",
        "text",
        "--category-field",
        "cat",
    )
    assert code == 0, err
    verdicts = _lines(output)
    assert sorted(v["id"] for v in verdicts) == [str(i) for i in range(6)]
    assert {v["category"] for v in verdicts} == {"c0", "c1"}
    code, out, _ = _run("summarize", str(output), "--by", "category")
    assert code == 0 and "c0" in out and "c1" in out
    code, out, _ = _run("summarize", str(output), "--json")
    assert json.loads(out)["overall"]["rows"] == 6


def test_reads_gzip_and_stdin(tmp_path: Path) -> None:
    lines = "".join(json.dumps({"id": i, "response": "I cannot do that"}) + "\n" for i in range(3))
    packed = tmp_path / "in.jsonl.gz"
    packed.write_bytes(gzip.compress(lines.encode()))
    for source, stdin in ((str(packed), None), ("-", lines)):
        output = tmp_path / f"out-{source[-2:]}.jsonl"
        code, _, err = _run("score", source, "-o", str(output), "--rubric", "refusal-keywords", input=stdin)
        assert code == 0, err
        assert len(_lines(output)) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": 1, "response": "a"}\n{"id": 2, "response": "b"\n', "in.jsonl:2: invalid JSON"),
        ('{"id": 1, "text": "a"}\n', "in.jsonl:1: field 'response': missing"),
        ('{"id": 1, "response": 5}\n', "field 'response': must be a string"),
        (
            '{"id": 1, "response": "a"}\n{"id": 1, "response": "b"}\n',
            "in.jsonl:2: field 'id': duplicate id '1' (first on line 1)",
        ),
        ("", "no records"),
        ("\n\n", "no records"),
        ("[1, 2]\n", "expected a JSON object"),
        (
            '{"id": 1, "response": "ok"}\n{"id": 2, "prompt": "p \\ud83d", "response": "r"}\n',
            "in.jsonl:2: field 'prompt': has a lone UTF-16 surrogate (\\ud83d) at character 2",
        ),
    ],
)
def test_bad_input_stops_before_any_request_with_file_line_and_field(
    tmp_path: Path, server: JudgeServer, content: str, message: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(content)
    code, _, err = _run(
        "score",
        str(source),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--model",
        "judge-model",
        "--base-url",
        server.url,
    )
    assert code == 1
    assert message in err
    assert server.request_count == 0


def test_bom_and_blank_lines_are_accepted_invalid_utf8_is_not(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'\xef\xbb\xbf{"id": 1, "response": "a"}\n\n{"id": 2, "response": "b"}\n')
    code, _, err = _run("score", str(source), "-o", str(tmp_path / "a.jsonl"), "--rubric", "refusal-keywords")
    assert code == 0, err
    source.write_bytes(b'{"id": 1, "response": "a"}\n{"id": 2, "response": "\xff"}\n')
    code, _, err = _run("score", str(source), "-o", str(tmp_path / "b.jsonl"), "--rubric", "refusal-keywords")
    assert code == 1 and "in.jsonl:2" in err and "UTF-8" in err


def test_an_output_that_is_not_verdicts_is_never_touched(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("precious\n")
    code, _, err = _run("score", str(EXAMPLES), "-o", str(output), "--rubric", "refusal-keywords")
    assert code == 1 and "not a judgekit verdict line" in err and "--overwrite" in err
    assert output.read_text() == "precious\n"


def test_rerun_resumes_and_the_cache_answers_repeats(tmp_path: Path, server: JudgeServer) -> None:
    source = write_rows(tmp_path / "in.jsonl", 10)
    output = tmp_path / "out.jsonl"
    assert _run("score", str(source), "-o", str(output), "--limit", "4", *server_args(server))[0] == 0
    assert server.request_count == 4
    code, _, err = _run("score", str(source), "-o", str(output), *server_args(server))
    assert code == 0 and "4 already there" in err
    assert server.request_count == 10
    assert sorted(v["id"] for v in _lines(output)) == sorted(f"r{i}" for i in range(10))
    other = tmp_path / "again.jsonl"
    code, _, err = _run("score", str(source), "-o", str(other), *server_args(server))
    assert code == 0 and "10 from the cache" in err
    assert server.request_count == 10, "a cached job must send nothing"
    assert all(v["cached"] for v in _lines(other))
    assert (
        _run("score", str(source), "-o", str(other), "--overwrite", "--no-cache", *server_args(server))[0]
        == 0
    )
    assert server.request_count == 20 and len(_lines(other)) == 10


def test_resume_cuts_a_torn_last_line(tmp_path: Path, server: JudgeServer) -> None:
    source = write_rows(tmp_path / "in.jsonl", 5)
    output = tmp_path / "out.jsonl"
    _run("score", str(source), "-o", str(output), "--limit", "3", "--no-cache", *server_args(server))
    with output.open("a") as handle:
        handle.write('{"id": "r3", "status": "o')
    code, _, err = _run("score", str(source), "-o", str(output), "--no-cache", *server_args(server))
    assert code == 0, err
    assert sorted(v["id"] for v in _lines(output)) == [f"r{i}" for i in range(5)]


def test_resume_refuses_verdicts_of_another_rubric(tmp_path: Path, server: JudgeServer) -> None:
    source = write_rows(tmp_path / "in.jsonl", 3)
    output = tmp_path / "out.jsonl"
    _run("score", str(source), "-o", str(output), "--limit", "1", "--rubric", "refusal-keywords")
    code, _, err = _run("score", str(source), "-o", str(output), *server_args(server))
    assert code == 1 and "rubric_hash" in err and "--overwrite" in err
    assert server.request_count == 0


def test_include_input_and_dry_run(tmp_path: Path, server: JudgeServer) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prompt": "p", "response": "r", "model": "m7"}) + "\n")
    output = tmp_path / "out.jsonl"
    code, _, err = _run("score", str(source), "-o", str(output), "--include-input", *server_args(server))
    assert code == 0, err
    assert _lines(output)[0]["input"] == {"prompt": "p", "response": "r", "model": "m7"}
    code, out, _ = _run(
        "score",
        str(source),
        "-o",
        str(tmp_path / "dry.jsonl"),
        "--dry-run",
        "--price-in",
        "1",
        "--price-out",
        "2",
        *server_args(server),
    )
    assert code == 0 and "1 records" in out and "nothing was sent" in out and "estimated cost" in out
    assert server.request_count == 1 and not (tmp_path / "dry.jsonl").exists()


def test_kill_9_then_rerun_yields_every_row_once(tmp_path: Path) -> None:
    rows, concurrency = 300, 8
    with JudgeServer(latency_s=0.02) as server:
        source = write_rows(tmp_path / "in.jsonl", rows)
        output = tmp_path / "out.jsonl"
        command = score_command(source, output, server, "--concurrency", str(concurrency))
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_size(output, 20_000)
        process.send_signal(signal.SIGKILL)
        process.wait()
        first_run_requests = server.request_count
        assert 0 < first_run_requests < rows, "kill the run midway"
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stderr
        ids = [v["id"] for v in _lines(output)]
        assert sorted(ids) == sorted(f"r{i}" for i in range(rows)), "every row exactly once"
        repeated = [row for row, count in requests_per_row(server).items() if count > 1]
        assert len(repeated) <= concurrency, f"only rows in flight at the kill may be sent again: {repeated}"


def test_no_endpoint_is_a_config_error(tmp_path: Path) -> None:
    code, _, err = _run("score", str(EXAMPLES), "-o", str(tmp_path / "o.jsonl"))
    assert code == 1 and "refusal-keywords" in err


def test_auth_failure_exits_3_and_keeps_output(tmp_path: Path) -> None:
    with JudgeServer(api_key="right") as keyed:
        code, _, err = _run(
            "score",
            str(EXAMPLES),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--model",
            "judge-model",
            "--base-url",
            keyed.url,
        )
    assert code == 3 and "credentials" in err


def test_rubrics_list_and_show() -> None:
    code, out, _ = _run("rubrics")
    assert code == 0 and "policy" in out and "refusal-keywords" in out
    code, out, _ = _run(
        "rubrics", "show", "behavior", "--response", "RESPONSE-MARK", "--context", "CONTEXT-MARK"
    )
    assert code == 0 and "===== system =====" in out and "RESPONSE-MARK" in out
    assert "CONTEXT-MARK" in out
    code, _, err = _run("rubrics", "show", "nope")
    assert code == 1 and "unknown rubric" in err


def test_console_script_runs_as_a_subprocess(tmp_path: Path) -> None:
    output = tmp_path / "v.jsonl"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "judgekit",
            "score",
            str(EXAMPLES),
            "-o",
            str(output),
            "--rubric",
            "refusal-keywords-gcg",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(_lines(output)) == len(_lines(EXAMPLES))


def test_cache_serves_a_rerun_after_a_text_fallback(tmp_path: Path, server: JudgeServer) -> None:
    server.supports_json_schema = False
    server.default_text = '{"reasoning": "r", "category": null, "score": 2}'
    source = write_rows(tmp_path / "in.jsonl", 3)
    args = ("--concurrency", "1", *server_args(server))
    assert _run("score", str(source), "-o", str(tmp_path / "a.jsonl"), *args)[0] == 0
    sent = server.request_count
    code, _, err = _run("score", str(source), "-o", str(tmp_path / "b.jsonl"), *args)
    assert code == 0 and "3 from the cache" in err
    assert server.request_count == sent


def test_ctrl_c_stops_cleanly_with_valid_output(tmp_path: Path) -> None:
    with JudgeServer(latency_s=0.05) as server:
        source = write_rows(tmp_path / "in.jsonl", 400)
        output = tmp_path / "out.jsonl"
        command = score_command(source, output, server, "--concurrency", "8")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for_size(output, 5_000)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert "rerun the same command to resume" in err
        written = _lines(output)  # every line is complete JSON
        assert 0 < len(written) < 400
        assert subprocess.run(command, capture_output=True, check=False).returncode == 0
        assert sorted(v["id"] for v in _lines(output)) == sorted(f"r{i}" for i in range(400))


def test_a_line_of_many_megabytes_is_judged_not_fatal(tmp_path: Path, server: JudgeServer) -> None:
    server.max_context_tokens = 100_000
    source = tmp_path / "in.jsonl"
    huge = "x" * 8_000_000
    source.write_text(
        json.dumps({"id": "big", "response": huge}) + "\n" + json.dumps({"id": "ok", "response": "y"}) + "\n"
    )
    output = tmp_path / "out.jsonl"
    code, _, err = _run("score", str(source), "-o", str(output), *server_args(server))
    assert code == 0, err
    by_id = {v["id"]: v for v in _lines(output)}
    assert by_id["big"]["status"] == "api_error" and "context" in by_id["big"]["error"]
    assert by_id["ok"]["status"] == "ok"
