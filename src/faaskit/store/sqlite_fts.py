"""What SQLite search asks of its FTS5 table alone: the match expression of a query's
words, the count and the page by relevance, and the page's scores and snippets (used by
:mod:`faaskit.store.sqlite_search`; every function runs inside its read transaction)."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from faaskit.store import statements as sql

__all__ = ["marks", "match", "ranked_page", "snippets"]

# The table's terms, one row per occurrence, in term order: the first row at or after a
# word is found without reading any doclist (the "row" kind would count each term's rows).
_VOCABULARY = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.faaskit_search_vocabulary"
    " USING fts5vocab(main, faaskit_search, instance)"
)
_FIRST_TERM = "SELECT term FROM temp.faaskit_search_vocabulary WHERE term >= ? LIMIT 1"
_RANKED = (
    "SELECT rowid, bm25(faaskit_search) FROM faaskit_search WHERE faaskit_search MATCH ?"
    " ORDER BY bm25(faaskit_search)"
)
_IDS = (
    "SELECT rowid, doc_id FROM faaskit_search_keys WHERE rowid IN (SELECT value FROM json_each(?))"
)
_MATCH_COUNT = "SELECT COUNT(*) FROM faaskit_search WHERE faaskit_search MATCH ?"
_TIES = 16
"""Matches read past twice the page's end, for the ties of its last (most pages have few)."""


def match(conn: sqlite3.Connection, words: tuple[str, ...]) -> tuple[str, bool]:
    """The MATCH expression of ``words`` and whether every word in it is a plain term.

    Each word is a phrase of one, quoted (FTS5 syntax cannot be injected), with a prefix
    star: "lam" finds "lamp". A word that is a term of the table and the prefix of no other
    term is matched as that term: the same rows, occurrences, scores and snippets, but
    FTS5 does not merge the doclist of every term with the prefix first (which it does
    again for each row looked up by rowid)."""
    exact = [_only_term(conn, word) for word in words]
    phrases = [
        f'"{word}"' if plain else f'"{word}"*' for word, plain in zip(words, exact, strict=True)
    ]
    return " ".join(phrases), all(exact)


def _first_term(conn: sqlite3.Connection, word: str) -> str | None:
    try:
        row = conn.execute(_FIRST_TERM, (word,)).fetchone()
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            raise
        # The connection's first search: the vocabulary lives in its own temp schema.
        conn.execute(_VOCABULARY)
        row = conn.execute(_FIRST_TERM, (word,)).fetchone()
    return None if row is None else str(row[0])


def _only_term(conn: sqlite3.Connection, word: str) -> bool:
    """Whether ``word`` is a term and no other term starts with it. Only ASCII letters and
    digits: the tokenizer leaves those as they are (lower case), so the term FTS5 makes of
    the word is the word. A longer term that starts with it goes on with a letter, a digit
    or a byte past ASCII (other characters separate terms), so it sorts at or after
    ``word + "0"``."""
    if not (word.isascii() and word.isalnum()):
        return False
    if _first_term(conn, word) != word:
        return False
    after = _first_term(conn, word + "0")
    return after is None or not after.startswith(word)


def marks(count: int) -> str:
    """Snippets of the first ``count`` text columns, matches between char(2) and char(3)."""
    return ", ".join(
        f"snippet(faaskit_search, {i}, char(2), char(3), '…', 16)" for i in range(count)
    )


def ranked_page(
    conn: sqlite3.Connection, expression: str, offset: int, size: int
) -> tuple[list[tuple[int, str, float]], int]:
    """The page by relevance (bm25, then id) from the full-text table alone, and how many
    rows match. FTS5 ranks every match; SQLite keeps the best few beyond the page's end
    (no sort of every match, no row of it sent back); ids break ties, so every match tied
    with the page's last must be among them, else all matches are read in order. Only
    the page and its ties are looked up for their ids."""
    wanted = offset + size
    limit = 2 * wanted + _TIES
    rows = conn.execute(f"{_RANKED} LIMIT ?", (expression, limit)).fetchall()
    if len(rows) < limit:  # every match read
        total = len(rows)
    elif rows[-1][1] == rows[wanted - 1][1]:  # the page's last ties may go on past them
        rows = conn.execute(_RANKED, (expression,)).fetchall()
        total = len(rows)
    else:
        total = int(conn.execute(_MATCH_COUNT, (expression,)).fetchone()[0])
    best = rows[:wanted]
    if len(rows) > wanted:  # and the matches tied with the page's last
        last = best[-1][1]
        best += itertools.takewhile(lambda row: row[1] == last, rows[wanted:])
    if not best:
        return [], total
    rowids = orjson.dumps([rowid for rowid, _ in best]).decode()
    ids = dict(conn.execute(_IDS, (rowids,)).fetchall())
    ranked = sorted((score, ids[rowid], rowid) for rowid, score in best if rowid in ids)
    return [(rowid, doc_id, score) for score, doc_id, rowid in ranked[offset:wanted]], total


def snippets(
    conn: sqlite3.Connection,
    expression: str,
    plain: bool,
    fields: int,
    rowids: list[int],
    scores: dict[int, Any] | None = None,
) -> dict[int, Sequence[Any]]:
    """The page's scores (unless ``scores`` has them) and snippets: each depends only on
    its own row and the match, so they are the same as in a query over every match."""
    if scores is not None and plain:
        # Each row looked up by rowid: a match of plain terms seeks each one's doclist.
        rows = conn.execute(
            f"SELECT rowid, {marks(fields)} FROM faaskit_search"
            " WHERE faaskit_search MATCH ? AND rowid IN " + sql.in_list(len(rowids)),
            (expression, *rowids),
        ).fetchall()
        return {row[0]: (scores[row[0]], *row[1:]) for row in rows}
    # One pass over the matches between the page's first and last rowid, the page's rows
    # picked from it (``+rowid``: not a constraint the full-text table sees): bm25 is set up
    # once per statement (its weights count every match, whatever the rowid bounds), and a
    # prefix would otherwise be merged again for each row looked up.
    rank = "" if scores is not None else ", bm25(faaskit_search)"
    rows = conn.execute(
        f"SELECT rowid{rank}, {marks(fields)} FROM faaskit_search"
        " WHERE faaskit_search MATCH ? AND rowid BETWEEN ? AND ? AND +rowid IN "
        + sql.in_list(len(rowids)),
        (expression, min(rowids), max(rowids), *rowids),
    ).fetchall()
    if scores is not None:
        return {row[0]: (scores[row[0]], *row[1:]) for row in rows}
    return {row[0]: row[1:] for row in rows}
