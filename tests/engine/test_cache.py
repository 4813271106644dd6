"""The reply cache: stable keys, a durable SQLite store shared between processes."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from judgekit._config import OPENAI_BASE_URL
from judgekit._engine.cache import GroupCommit, ReplyCache, cache_key, default_cache_path
from judgekit._errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a strict safety judge."},
        {"role": "user", "content": "Prompt: ...\nResponse: ..."},
    ],
    "temperature": 0.0,
    "max_tokens": 512,
    "response_format": {"type": "json_schema", "json_schema": {"name": "policy_verdict", "strict": True}},
    "logprobs": True,
    "top_logprobs": 10,
    "seed": 7,
}
KEY_INPUTS: dict[str, Any] = {
    "endpoint": "http://127.0.0.1:8000/v1",
    "model": "gpt-4o-mini",
    "rubric_hash": "3f2a9c",
    "body": BODY,
}
REPLY: dict[str, Any] = {
    "text": '{"score": 1, "reasoning": "Refuses and explains why — «ok»."}',
    "finish_reason": "stop",
    "usage": {"prompt_tokens": 512, "completion_tokens": 40},
    "latency_ms": 812.5,
    "model": "gpt-4o-mini-2024-07-18",
    "refusal": None,
    "tokens": [["1", [["1", -0.01], ["2", -4.6]]]],
}


def key(**changes: Any) -> str:
    return cache_key(**{**KEY_INPUTS, **changes})


def body(**changes: Any) -> dict[str, Any]:
    return {**BODY, **changes}


# Keys


def test_key_is_pinned() -> None:
    # Changing the key derivation silently empties every user's cache: make it a visible diff.
    assert key() == "d1867fbd81a51ebf8ff55deb1b92848a558cc5a88d0a86cf17d1f362ab3aa47f"


def test_key_is_a_sha256_hex_digest() -> None:
    assert len(key()) == 64
    assert int(key(), 16) >= 0


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"endpoint": "http://127.0.0.1:8001/v1"}, id="endpoint"),
        pytest.param({"model": "gpt-4o"}, id="model"),
        pytest.param({"rubric_hash": "3f2a9d"}, id="rubric_hash"),
        pytest.param({"body": body(model="gpt-4o")}, id="body.model"),
        pytest.param(
            {"body": body(messages=[*BODY["messages"][:1], {"role": "user", "content": "Prompt: ?"}])},
            id="body.messages-content",
        ),
        pytest.param({"body": body(messages=BODY["messages"][:1])}, id="body.messages-count"),
        pytest.param({"body": body(temperature=0.7)}, id="body.temperature"),
        pytest.param({"body": body(max_tokens=513)}, id="body.max_tokens"),
        pytest.param({"body": body(response_format={"type": "json_object"})}, id="body.response_format"),
        pytest.param({"body": body(logprobs=False)}, id="body.logprobs"),
        pytest.param({"body": body(seed=8)}, id="body.seed"),
        pytest.param({"body": {k: v for k, v in BODY.items() if k != "seed"}}, id="body.seed-absent"),
        pytest.param({"body": body(top_p=0.9)}, id="body.top_p-added"),
    ],
)
def test_key_changes_with_every_input(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


def test_key_ignores_dict_key_order() -> None:
    reordered = {name: BODY[name] for name in reversed(list(BODY))}
    reordered["messages"] = [dict(reversed(list(message.items()))) for message in BODY["messages"]]
    assert key(body=reordered) == key()


def test_key_ignores_trailing_slash_on_endpoint() -> None:
    assert key(endpoint="http://127.0.0.1:8000/v1/") == key()


@pytest.mark.parametrize("endpoint", [None, "", OPENAI_BASE_URL, OPENAI_BASE_URL + "/"])
def test_missing_endpoint_means_openai(endpoint: str | None) -> None:
    assert key(endpoint=endpoint) == key(endpoint="https://api.openai.com/v1")


def test_integral_floats_and_ints_share_a_key() -> None:
    assert key(body=body(temperature=0)) == key(body=body(temperature=0.0))
    assert key(body=body(temperature=1)) != key(body=body(temperature=1.5))


def test_tuples_and_lists_share_a_key() -> None:
    assert key(body=body(messages=tuple(BODY["messages"]))) == key()


def test_api_key_is_not_an_input() -> None:
    assert list(inspect.signature(cache_key).parameters) == ["endpoint", "model", "rubric_hash", "body"]


# Store


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    with ReplyCache(tmp_path / "replies.sqlite") as reply_cache:
        yield reply_cache


def test_round_trip(cache: ReplyCache) -> None:
    cache.put(key(), REPLY)
    assert cache.get(key()) == REPLY
    assert len(cache) == 1


def test_missing_key_is_none(cache: ReplyCache) -> None:
    assert cache.get(key()) is None
    assert len(cache) == 0


def test_put_replaces(cache: ReplyCache) -> None:
    cache.put("k", {"text": "first"})
    cache.put("k", {"text": "second"})
    assert cache.get("k") == {"text": "second"}
    assert len(cache) == 1


def test_get_many_returns_only_stored_keys(cache: ReplyCache) -> None:
    for i in range(0, 2000, 2):
        cache.put(f"k{i}", {"i": i})
    asked = [f"k{i}" for i in range(2000)] + ["k0", "k0"]
    found = cache.get_many(asked)
    assert found == {f"k{i}": {"i": i} for i in range(0, 2000, 2)}
    assert cache.get_many([]) == {}


def test_unserialisable_reply_stores_nothing(cache: ReplyCache) -> None:
    with pytest.raises(TypeError):
        cache.put("k", {"when": object()})
    assert cache.get("k") is None


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "replies.sqlite"
    with ReplyCache(path) as first:
        first.put(key(), REPLY)
    with ReplyCache(path) as second:
        assert second.get(key()) == REPLY


def test_creates_parent_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "replies.sqlite"
    ReplyCache(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_close_twice_is_harmless(tmp_path: Path) -> None:
    reply_cache = ReplyCache(tmp_path / "replies.sqlite")
    reply_cache.close()
    reply_cache.close()


def test_usable_from_another_thread(cache: ReplyCache) -> None:
    # Judge's sync wrapper runs its event loop on a thread other than the one that built it.
    thread = threading.Thread(target=cache.put, args=("k", REPLY))
    thread.start()
    thread.join()
    assert cache.get("k") == REPLY


# Several processes


def run_python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_another_process_sees_writes(cache: ReplyCache) -> None:
    cache.put("from-parent", REPLY)
    child = (
        "import json, sys\n"
        "from judgekit._engine.cache import ReplyCache\n"
        "with ReplyCache(sys.argv[1]) as cache:\n"
        "    print(json.dumps(cache.get('from-parent')))\n"
        "    cache.put('from-child', {'text': 'hello'})\n"
    )
    assert json.loads(run_python(child, str(cache.path))) == REPLY
    # The parent's connection, open all along, sees the child's commit.
    assert cache.get("from-child") == {"text": "hello"}


WRITER = """
import sys
from judgekit._engine.cache import ReplyCache
cache = ReplyCache(sys.argv[1])
i = 0
while True:
    cache.put(f"key-{i}", {"i": i, "text": "x" * 600})
    print(f"key-{i}", flush=True)
    i += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_every_returned_put_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "replies.sqlite"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, writer.kill)
    watchdog.start()
    try:
        assert writer.stdout is not None
        printed = []
        for line in writer.stdout:
            printed.append(line.strip())
            if len(printed) == 300:
                break
        os.kill(writer.pid, signal.SIGKILL)  # lands in the middle of later puts
        stdout, stderr = writer.communicate()
    finally:
        watchdog.cancel()
    assert len(printed) == 300, stderr
    assert writer.returncode == -signal.SIGKILL
    printed += stdout.split()
    with ReplyCache(path) as reopened:
        found = reopened.get_many(printed)
        assert set(found) == set(printed)
        assert found[printed[-1]]["text"] == "x" * 600
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()


# Files that are not a usable cache


def test_corrupt_file_names_path_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "replies.sqlite"
    path.write_text('{"id": 1, "response": "not a database"}\n' * 200)
    with pytest.raises(ConfigError) as caught:
        ReplyCache(path)
    message = str(caught.value)
    assert str(path) in message
    assert "--cache PATH" in message
    assert "move it aside" in message


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "replies.sqlite"
    ReplyCache(path).close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    db.close()
    expected = r"newer judgekit \(cache schema 99; this judgekit reads schema 1\)"
    with pytest.raises(ConfigError, match=expected):
        ReplyCache(path)


def test_refuses_another_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE results (id TEXT)")
    db.close()
    with pytest.raises(ConfigError, match="not a judgekit reply cache"):
        ReplyCache(path)


def test_file_in_the_way_of_the_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="--cache PATH"):
        ReplyCache(tmp_path / "file" / "replies.sqlite")


def test_directory_at_the_path_is_a_config_error(tmp_path: Path) -> None:
    expected = rf"cannot open the reply cache {re.escape(str(tmp_path))}: .*--cache PATH"
    with pytest.raises(ConfigError, match=expected):
        ReplyCache(tmp_path)


# Default location


def test_default_path_from_judgekit_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUDGEKIT_CACHE_DIR", str(tmp_path / "jk"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "jk" / "replies.sqlite"


def test_default_path_from_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # conftest may point JUDGEKIT_CACHE_DIR at a temp dir; these tests need it unset or empty.
    monkeypatch.setenv("JUDGEKIT_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "judgekit" / "replies.sqlite"


@pytest.mark.parametrize("xdg", [None, "", "relative/cache"])
def test_default_path_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None) -> None:
    monkeypatch.delenv("JUDGEKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert default_cache_path() == tmp_path / ".cache" / "judgekit" / "replies.sqlite"


# -- group commits ---------------------------------------------------------------------------------


def test_group_commit_stores_a_turns_replies_in_one_commit(tmp_path: Path) -> None:
    path = tmp_path / "replies.sqlite"

    async def main() -> None:
        group = GroupCommit(ReplyCache(path), asyncio.get_running_loop())
        group.put("a", {"text": "A"})
        group.put("b", {"text": "B"})
        assert group.get("a") == {"text": "A"}  # read back before the commit
        assert ReplyCache(path).get("a") is None
        await asyncio.sleep(0)  # one turn of the loop
        reader = ReplyCache(path)
        assert reader.get_many(["a", "b"]) == {"a": {"text": "A"}, "b": {"text": "B"}}

    asyncio.run(main())


def test_a_failed_group_commit_is_raised_by_the_next_put(tmp_path: Path) -> None:
    async def main() -> None:
        cache = ReplyCache(tmp_path / "replies.sqlite")
        group = GroupCommit(cache, asyncio.get_running_loop())
        cache.close()
        group.put("a", {"text": "A"})
        await asyncio.sleep(0)
        with pytest.raises(ConfigError, match=r"cannot write the reply cache .*--no-cache"):
            group.put("b", {"text": "B"})
        with pytest.raises(ConfigError):
            group.flush()

    asyncio.run(main())


def test_put_many_is_all_or_nothing(cache: ReplyCache) -> None:
    with pytest.raises(TypeError):
        cache.put_many([("a", {"text": "A"}), ("b", {"bad": object()})])
    assert cache.get("a") is None
