"""A persistent, content-addressed cache of judge replies, so re-running a job sends nothing.

The key is a hash of what decides the reply (endpoint, model, rubric hash, request body); the
value is the reply as JSON. The API key goes into neither, and the request itself is not stored,
only its hash.

One SQLite file in WAL mode: several processes (two judgekit runs sharing a cache) may read and
write it at once. WAL needs shared memory, so keep the file on a local disk, not on NFS or SMB.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from judgekit._config import OPENAI_BASE_URL
from judgekit._errors import ConfigError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

# SQLite before 3.32 allows at most 999 `?` parameters in one statement.
_MAX_PARAMS = 900
_CORRUPT_ERRORS = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


def cache_key(*, endpoint: str | None, model: str, rubric_hash: str, body: Mapping[str, Any]) -> str:
    """The cache key of one judge request: a sha256 hex digest.

    Hashes a canonical JSON (sorted keys, compact, UTF-8; integral floats written as integers, as
    RFC 8785 does, so `temperature=0` and `0.0` share a key) of the endpoint, model, rubric hash and
    request body (messages, temperature, max_tokens, response_format, logprobs, seed, ...).
    The endpoint loses trailing slashes; None or "" means OpenAI's default endpoint.

    The API key is deliberately not a parameter: it cannot change the reply, and a value that is
    never an input can never reach the cache file.
    """
    content = {
        "endpoint": (endpoint or OPENAI_BASE_URL).rstrip("/"),
        "model": model,
        "rubric_hash": rubric_hash,
        "body": _canonical(body),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def default_cache_path() -> Path:
    """`$JUDGEKIT_CACHE_DIR/replies.sqlite`, else in `$XDG_CACHE_HOME/judgekit/` or `~/.cache/judgekit/`."""
    if directory := os.environ.get("JUDGEKIT_CACHE_DIR"):
        return Path(directory).expanduser() / "replies.sqlite"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative path in these variables.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "judgekit" / "replies.sqlite"


class ReplyCache:
    """Judge replies stored by `cache_key`, in one SQLite file.

    `put` commits before it returns, so a reply it stored survives the process being killed
    (`kill -9`). With `synchronous=NORMAL` the last commits can be lost on power loss or an OS crash,
    though the file stays consistent: a lost reply is only asked for again.

    Calls are synchronous and take microseconds, so an asyncio program can call them directly.
    A lock makes one instance safe to share between threads; do not use it across a `fork()`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"cannot create the directory of the reply cache {self.path}: {error}; "
                "pass another file with --cache PATH"
            ) from None
        try:
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise self._open_error(error) from None
        try:
            self._open()
        except sqlite3.Error as error:
            self._db.close()
            raise self._open_error(error) from None
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        # isolation_level=None: each statement outside BEGIN commits at once, so `put` is durable
        # when it returns, and `BEGIN IMMEDIATE` below is ours, not the sqlite3 module's.
        self._switch_to_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (copying the WAL into the database, with two fsyncs) were half the cost of a
        # commit at the default 1,000 pages; at 10,000 (40 MB of WAL) they are rarer and cheaper.
        self._db.execute("PRAGMA wal_autocheckpoint=10000")
        # IMMEDIATE: two processes creating the same new cache take turns.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._check_or_create_schema()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _switch_to_wal(self) -> None:
        """`PRAGMA journal_mode=WAL`, waiting for another process that is switching the same new file.

        The busy timeout does not cover this pragma: two processes creating one cache at once got
        "database is locked" in about one trial in ten, so it is retried here, up to BUSY_TIMEOUT_S.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.002
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                busy = getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, 0.05)

    def _check_or_create_schema(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            if tables:
                raise ConfigError(
                    f"{self.path} is an SQLite database but not a judgekit reply cache "
                    f"(it has tables {', '.join(sorted(tables))}); pass another file with --cache PATH"
                )
            self._db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute(
                "CREATE TABLE replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL, created_at REAL NOT NULL)"
            )
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        row = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        found = str(row[0]) if row else None
        if found != str(SCHEMA_VERSION):
            newer = found is not None and found.isdigit() and int(found) > SCHEMA_VERSION
            reason = "was written by a newer judgekit" if newer else "has an unknown layout"
            raise ConfigError(
                f"the reply cache {self.path} {reason} (cache schema {found}; this judgekit reads "
                f"schema {SCHEMA_VERSION}); upgrade judgekit, or pass another file with --cache PATH"
            )

    def _open_error(self, error: sqlite3.Error) -> ConfigError:
        if getattr(error, "sqlite_errorname", None) in _CORRUPT_ERRORS:
            aside = self.path.with_name(self.path.name + ".damaged")
            return ConfigError(
                f"the reply cache {self.path} is not a readable SQLite database ({error}); move it "
                f"aside to start an empty cache (mv {self.path} {aside}), or pass another file with "
                "--cache PATH"
            )
        return ConfigError(
            f"cannot open the reply cache {self.path}: {error}; pass another file with --cache PATH"
        )

    def _damaged(self, error: sqlite3.Error, action: str = "read") -> ConfigError:
        """The error for a read or write that failed on a damaged file, a full disk or a lock."""
        name = getattr(error, "sqlite_errorname", "")
        if name in _CORRUPT_ERRORS:
            aside = self.path.with_name(self.path.name + ".damaged")
            return ConfigError(
                f"the reply cache {self.path} is damaged ({error}); move it aside and start an empty "
                f"one (mv {self.path} {aside}), pass another file with --cache PATH, or run with "
                "--no-cache; rerun to resume"
            )
        if name == "SQLITE_FULL":
            return ConfigError(
                f"the reply cache {self.path} is full ({error}); free disk space, pass another file "
                "with --cache PATH, or run with --no-cache; rerun to resume"
            )
        return ConfigError(
            f"cannot {action} the reply cache {self.path}: {error}; pass another file with --cache PATH, "
            "or run with --no-cache"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        """The reply stored under `key`, or None."""
        with self._lock:
            try:
                row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError as error:
                raise self._damaged(error) from None
        if row is None:
            return None
        try:
            reply: dict[str, Any] = json.loads(row[0])
        except ValueError:  # a damaged row: ask the judge again
            return None
        return reply

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The replies stored under any of `keys`, by key; missing keys are absent."""
        unique = list(dict.fromkeys(keys))
        rows: list[tuple[str, str]] = []
        with self._lock:
            for start in range(0, len(unique), _MAX_PARAMS):
                chunk = unique[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, reply FROM replies WHERE key IN ({marks})"
                try:
                    rows.extend(self._db.execute(query, chunk))
                except sqlite3.DatabaseError as error:
                    raise self._damaged(error) from None
        return {key: json.loads(reply) for key, reply in rows}

    def put(self, key: str, reply: Mapping[str, Any]) -> None:
        """Store `reply` under `key`, replacing any earlier one; committed when this returns."""
        self.put_many([(key, reply)])

    def put_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Store several replies in one transaction: one commit, far cheaper than a `put` each."""
        now = time.time()
        rows = [(key, _dumps(reply), now) for key, reply in items]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT OR REPLACE INTO replies VALUES (?, ?, ?)", rows)
                except BaseException:
                    if self._db.in_transaction:  # SQLite ends it by itself on some errors (full)
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise self._damaged(error, "write") from None

    def __len__(self) -> int:
        """The number of stored replies (counts every row: slow-ish on a cache of millions)."""
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
        return count

    def close(self) -> None:
        """Close the database; calling it again does nothing."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReplyCache({str(self.path)!r})"


class GroupCommit:
    """A ReplyCache front that stores many replies in one commit.

    Commits are most of the cache's cost (SQLite writes whole pages each time). On an event loop
    `loop`, what is put during a turn is committed at the start of the next, before the loop waits
    for anything: under load dozens of replies share a commit, and `kill -9` loses at most the
    replies of the turn it interrupts, as it loses the requests in flight (a rerun asks for them
    again). With `loop` None (synchronous code), replies wait for `flush()`. Replies not yet
    committed are read back from memory. A failed commit is raised by the next `put` or `flush`.
    """

    def __init__(self, cache: ReplyCache, loop: asyncio.AbstractEventLoop | None):
        self.cache = cache
        self._loop = loop
        self._pending: dict[str, Mapping[str, Any]] = {}
        self._failed: ConfigError | None = None

    def get(self, key: str) -> Mapping[str, Any] | None:
        """The reply stored under `key`, committed or not, or None."""
        pending = self._pending.get(key)
        return pending if pending is not None else self.cache.get(key)

    def put(self, key: str, reply: Mapping[str, Any]) -> None:
        """Store `reply` under `key` at the start of the loop's next turn, or at `flush()`."""
        if self._failed is not None:
            raise self._failed
        if not self._pending and self._loop is not None:
            self._loop.call_soon(self._commit)
        self._pending[key] = reply

    def flush(self) -> None:
        """Commit every pending reply now; raises a commit that failed earlier."""
        self._commit()
        if self._failed is not None:
            raise self._failed

    def _commit(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, {}
            try:
                self.cache.put_many(pending.items())
            except ConfigError as error:
                self._failed = error


def _dumps(reply: Mapping[str, Any]) -> str:
    return json.dumps(reply, separators=(",", ":"), ensure_ascii=False)
