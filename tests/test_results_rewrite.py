"""`rewrite_verdicts`: the one atomic rewrite behind `--retry-errors` and `batch ingest --retry`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgekit._errors import InputError
from judgekit._results import rewrite_verdicts


def _line(id_: str, status: str = "ok") -> bytes:
    return (json.dumps({"id": id_, "status": status}) + "\n").encode()


def test_lines_are_kept_dropped_replaced_and_appended_in_one_step(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_bytes(
        _line("a") + _line("b", "api_error") + b"\n" + _line("c", "parse_error") + b'{"id": "d"'
    )
    new = {"b": b"", "c": _line("c")}
    changed = rewrite_verdicts(output, lambda row: new.get(str(row["id"])), appended=[_line("e")])
    assert changed == 2
    assert output.read_bytes() == _line("a") + b"\n" + _line("c") + _line("e")  # the torn line is cut
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_an_output_nothing_changes_is_left_as_it_was(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_bytes(_line("a") + b'{"id": "b"')
    inode = output.stat().st_ino
    assert rewrite_verdicts(output, lambda row: None) == 0
    assert output.stat().st_ino == inode and output.read_bytes().endswith(b'{"id": "b"')
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_a_missing_output_reads_as_empty(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    assert rewrite_verdicts(output, lambda row: b"") == 0 and not output.exists()
    rewrite_verdicts(output, lambda row: None, appended=[_line("a")])
    assert output.read_bytes() == _line("a")


def test_a_line_that_is_no_verdict_names_the_file_and_leaves_it(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_bytes(_line("a") + b"not json\n")
    with pytest.raises(InputError, match=r"out\.jsonl:2: is not a judgekit verdict"):
        rewrite_verdicts(output, lambda row: b"")
    assert output.read_bytes() == _line("a") + b"not json\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
