"""One SQLite database per tournament: the generation cache, the judgment cache and model fingerprints.

WAL mode, one transaction per committed block, `INSERT OR IGNORE` everywhere: a run killed at any point
leaves only whole blocks behind, and a rerun fills in exactly what is missing. Each judgment and score
names the judge call that made it (`call`), and `judge_calls` keeps what the judge counted in that call
(e.g. unreadable verdicts): the counts behind a leaderboard are known however much of it was cached.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from arena.generation.base import Sample

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    model TEXT NOT NULL, settings TEXT NOT NULL, prompt TEXT NOT NULL, sample_index INTEGER NOT NULL,
    text TEXT NOT NULL, token_ids TEXT NOT NULL, logprob REAL NOT NULL, finish_reason TEXT NOT NULL,
    PRIMARY KEY (model, settings, prompt, sample_index)
);
CREATE TABLE IF NOT EXISTS judgments (
    judge TEXT NOT NULL, prompt TEXT NOT NULL, response_a TEXT NOT NULL, response_b TEXT NOT NULL,
    p_a REAL NOT NULL, call TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (judge, prompt, response_a, response_b)
);
CREATE TABLE IF NOT EXISTS scores (
    judge TEXT NOT NULL, prompt TEXT NOT NULL, response TEXT NOT NULL, score REAL NOT NULL,
    call TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (judge, prompt, response)
);
CREATE TABLE IF NOT EXISTS judge_calls (
    judge TEXT NOT NULL, call TEXT NOT NULL, counters TEXT NOT NULL, PRIMARY KEY (judge, call)
);
CREATE TABLE IF NOT EXISTS fingerprints (
    path TEXT NOT NULL, stamp TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (path, stamp)
);
"""

SampleKey = tuple[str, int]  # (prompt, sample index)
PairKey = tuple[str, str, str]  # (prompt, response a, response b)


class TournamentStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=60)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(SCHEMA)
        for table in ("judgments", "scores"):  # a store written before judge calls were recorded
            columns = {row[1] for row in self.connection.execute(f"PRAGMA table_info({table})")}
            if "call" not in columns:
                self.connection.execute(f"ALTER TABLE {table} ADD COLUMN call TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        self.connection.close()

    def _insert(self, sql: str, rows: Iterable[tuple], *more: tuple[str, Iterable[tuple]]) -> int:
        """Rows (and `more` statements with theirs) in one transaction; returns how many rows of the first
        statement were new (`INSERT OR IGNORE` skips those already stored)."""
        with self.connection:  # one transaction: all of the block or none of it
            self.connection.execute("BEGIN")
            inserted = self.connection.executemany(sql, rows).rowcount
            for other_sql, other_rows in more:
                self.connection.executemany(other_sql, other_rows)
        return inserted

    # Generation cache, keyed by (model fingerprint, settings, prompt, sample index).
    def samples(self, model: str, settings: str) -> dict[SampleKey, Sample]:
        rows = self.connection.execute(
            "SELECT prompt, sample_index, text, token_ids, logprob, finish_reason FROM samples "
            "WHERE model = ? AND settings = ?",
            (model, settings),
        )
        return {
            (prompt, index): Sample(prompt, text, tuple(json.loads(ids)), logprob, finish)
            for prompt, index, text, ids, logprob, finish in rows
        }

    def add_samples(self, model: str, settings: str, samples: Iterable[tuple[int, Sample]]) -> int:
        """Stores what is not stored yet; returns how many samples were new."""
        return self._insert(
            "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    model,
                    settings,
                    s.prompt,
                    index,
                    s.text,
                    json.dumps(list(s.token_ids)),
                    s.logprob,
                    s.finish_reason,
                )
                for index, s in samples
            ],
        )

    # Judgment caches, keyed by judge fingerprint and text; each row names the judge call that made it.
    def judgments(self, judge: str) -> dict[PairKey, float]:
        rows = self.connection.execute(
            "SELECT prompt, response_a, response_b, p_a FROM judgments WHERE judge = ?", (judge,)
        )
        return {(prompt, a, b): p for prompt, a, b, p in rows}

    def scores(self, judge: str) -> dict[tuple[str, str], float]:
        rows = self.connection.execute("SELECT prompt, response, score FROM scores WHERE judge = ?", (judge,))
        return {(prompt, response): score for prompt, response, score in rows}

    def add_judged(
        self,
        judge: str,
        pointwise: bool,
        values: list[tuple[tuple[str, ...], float]],
        counters: dict[str, int],
    ) -> None:
        """One judge call: its judgments (or scores) and what the judge counted in it, in one transaction."""
        call = hashlib.sha256(json.dumps([judge, [key for key, _ in values]]).encode()).hexdigest()
        table, placeholders = ("scores", "?, ?, ?, ?, ?") if pointwise else ("judgments", "?, ?, ?, ?, ?, ?")
        self._insert(
            f"INSERT OR IGNORE INTO {table} VALUES ({placeholders})",
            [(judge, *key, value, call) for key, value in values],
            (
                "INSERT OR IGNORE INTO judge_calls VALUES (?, ?, ?)",
                [(judge, call, json.dumps(counters, sort_keys=True))],
            ),
        )

    def call_counters(self, judge: str, pointwise: bool, items: Iterable[tuple[str, ...]]) -> dict[str, int]:
        """What the judge counted in the calls that made these items' judgments, summed over the calls.

        A call counts whole: where only part of an earlier call's judgments are used (an entrant was
        removed since), that call's counts still cover all of it."""
        if pointwise:
            rows = self.connection.execute(
                "SELECT prompt, response, call FROM scores WHERE judge = ?", (judge,)
            )
            call_of = {(prompt, response): call for prompt, response, call in rows}
        else:
            rows = self.connection.execute(
                "SELECT prompt, response_a, response_b, call FROM judgments WHERE judge = ?", (judge,)
            )
            call_of = {(prompt, a, b): call for prompt, a, b, call in rows}
        calls = {call_of[item] for item in items if item in call_of}
        stored = self.connection.execute("SELECT call, counters FROM judge_calls WHERE judge = ?", (judge,))
        total: dict[str, int] = {}
        for call, counters in stored:
            if call in calls:
                for key, value in json.loads(counters).items():
                    total[key] = total.get(key, 0) + value
        return total

    # Fingerprints of model directories, remembered by (path, size and mtime of every file).
    def known_fingerprint(self, path: str, stamp: str) -> str | None:
        row = self.connection.execute(
            "SELECT digest FROM fingerprints WHERE path = ? AND stamp = ?", (path, stamp)
        ).fetchone()
        return row[0] if row else None

    def remember_fingerprint(self, path: str, stamp: str, digest: str) -> None:
        self._insert("INSERT OR IGNORE INTO fingerprints VALUES (?, ?, ?)", [(path, stamp, digest)])
