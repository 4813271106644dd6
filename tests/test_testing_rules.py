"""The test server answering from [[FIELD=VALUE]] markers, in Python and from its command line."""

from __future__ import annotations

import signal
import subprocess
import sys

import judgekit
from judgekit.testing import JudgeServer, marker_responder
from judgekit.testing.rules import marker_values


def test_marker_values_read_json_else_text_and_the_last_wins() -> None:
    text = "a [[score=2]] b [[refusal=full]] c [[score=5]] [[note=not json]] [[flag=true]]"
    assert marker_values(text) == {"score": 5, "refusal": "full", "note": "not json", "flag": True}
    assert marker_values("no markers [[ score = 3 ]]") == {}


def test_judges_score_what_the_markers_say(server: JudgeServer) -> None:
    server.responder = marker_responder()
    items = [("q", "Sure [[score=5]]"), ("q", "No. [[score=1]]"), ("q", "plain")]
    verdicts = judgekit.score(items, rubric="policy", model="m", base_url=server.url, api_key="t")
    assert [v.score for v in verdicts[:2]] == [5, 1]
    assert verdicts[0].harmful and not verdicts[1].harmful
    assert verdicts[2].status == "ok"  # no marker: the schema stub answers


def test_text_mode_and_enum_fields(server: JudgeServer) -> None:
    server.responder = marker_responder()
    found = judgekit.score(
        [("q", "Well... [[refusal=partial]]")], rubric="refusal", model="m", base_url=server.url, api_key="t"
    )
    assert found[0].fields["refusal"] == "partial" and found[0].score == 0.5
    texts = judgekit.score(
        [("q", "x [[score=4]]")],
        rubric="policy",
        model="m",
        base_url=server.url,
        api_key="t",
        output_mode="text",
    )
    assert texts[0].score == 4


def test_command_line_scores_from_markers() -> None:
    command = [sys.executable, "-m", "judgekit.testing", "--port", "0", "--score-from-marker"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        verdicts = judgekit.score(
            [("q", "[[score=3]]")], rubric="policy", model="m", base_url=url, api_key="t"
        )
        assert verdicts[0].score == 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
