"""One SQLite database per tournament: the generation cache, the judgment cache and model fingerprints.

WAL mode, one transaction per committed block, `INSERT OR IGNORE` everywhere: a run killed at any point
leaves only whole blocks behind, and a rerun fills in exactly what is missing.
"""

from __future__ import annotations

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
    p_a REAL NOT NULL,
    PRIMARY KEY (judge, prompt, response_a, response_b)
);
CREATE TABLE IF NOT EXISTS scores (
    judge TEXT NOT NULL, prompt TEXT NOT NULL, response TEXT NOT NULL, score REAL NOT NULL,
    PRIMARY KEY (judge, prompt, response)
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

    def close(self) -> None:
        self.connection.close()

    def _insert(self, sql: str, rows: Iterable[tuple]) -> None:
        with self.connection:  # one transaction: all of the block or none of it
            self.connection.execute("BEGIN")
            self.connection.executemany(sql, rows)

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

    def add_samples(self, model: str, settings: str, samples: Iterable[tuple[int, Sample]]) -> None:
        self._insert(
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

    # Judgment caches, keyed by judge fingerprint and text.
    def judgments(self, judge: str) -> dict[PairKey, float]:
        rows = self.connection.execute(
            "SELECT prompt, response_a, response_b, p_a FROM judgments WHERE judge = ?", (judge,)
        )
        return {(prompt, a, b): p for prompt, a, b, p in rows}

    def add_judgments(self, judge: str, values: Iterable[tuple[PairKey, float]]) -> None:
        self._insert(
            "INSERT OR IGNORE INTO judgments VALUES (?, ?, ?, ?, ?)",
            [(judge, prompt, a, b, p) for (prompt, a, b), p in values],
        )

    def scores(self, judge: str) -> dict[tuple[str, str], float]:
        rows = self.connection.execute("SELECT prompt, response, score FROM scores WHERE judge = ?", (judge,))
        return {(prompt, response): score for prompt, response, score in rows}

    def add_scores(self, judge: str, values: Iterable[tuple[tuple[str, str], float]]) -> None:
        self._insert(
            "INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?)",
            [(judge, prompt, response, score) for (prompt, response), score in values],
        )

    # Fingerprints of model directories, remembered by (path, size and mtime of every file).
    def known_fingerprint(self, path: str, stamp: str) -> str | None:
        row = self.connection.execute(
            "SELECT digest FROM fingerprints WHERE path = ? AND stamp = ?", (path, stamp)
        ).fetchone()
        return row[0] if row else None

    def remember_fingerprint(self, path: str, stamp: str, digest: str) -> None:
        self._insert("INSERT OR IGNORE INTO fingerprints VALUES (?, ?, ?)", [(path, stamp, digest)])
