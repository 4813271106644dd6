"""The comparison's HTML report: offline (no script, nothing fetched), and it renders in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_compare import CATEGORIES, _scores
from verdict_files import scored

import judgekit
from judgekit._compare.html import render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page(tmp_path: Path) -> Path:
    base = scored(tmp_path / "base.jsonl", _scores(1, 90, 0), CATEGORIES)
    tuned = scored(tmp_path / "tuned.jsonl", _scores(1, 90, 2), CATEGORIES)
    labels = tmp_path / "labels.jsonl"  # every other verdict of each model, labelled
    rows = [
        {"id": f"r{i}", "model": name, "label": i % 4 == 0}
        for name in ("base", "tuned")
        for i in range(0, 90, 2)
    ]
    labels.write_text("".join(json.dumps(row) + "\n" for row in rows))
    html = tmp_path / "report.html"
    comparison = judgekit.compare([base, tuned], by="category", labels=labels)
    html.write_text(render_html(comparison), encoding="utf-8")
    return html


def test_page_is_offline_and_complete(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.IGNORECASE)
    assert "@import" not in text and "url(" not in text
    assert text.count("<svg") == 2 + 2  # two bar charts, two forest plots
    for expected in ("Per group", "Differences against base", "Table", "Provenance", "changed most"):
        assert expected in text
    assert "policy-hash" in text and "seed 0" in text
    assert (
        "corrected for judge error with the labels in" in text
        and "warning: fraud: base: only 15 labels" in text
    )


def test_text_from_verdicts_is_escaped(tmp_path: Path) -> None:
    evil = '<script>alert(1)</script><img src="http://x/y.png">'
    base = scored(tmp_path / "base.jsonl", [1, 1, 1], [evil])
    tuned = scored(tmp_path / "tuned.jsonl", [5, 5, 5], [evil])
    text = render_html(judgekit.compare([base, tuned], by="category"))
    assert "<script" not in text and "<img" not in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
