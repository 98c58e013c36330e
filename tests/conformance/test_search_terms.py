"""PostgreSQL keeps each search row's words in faaskit_search_terms (counts of one word
and exact matches of whole words read them): every write of the text keeps them, and a
database whose rows were indexed before the table existed gets them when its schema is
brought up to date. Answers are the same either way."""

from __future__ import annotations

import psycopg

from faaskit.store import create_store
from tests.conformance.test_search_typed import Oracle, changed, check, seeded

_EXPECTED = (
    "SELECT count(*) FROM (SELECT collection, unnest(tsvector_to_array(vector)), doc_id"
    " FROM faaskit_search) words"
)


def _terms(url: str) -> tuple[int, int]:
    """(rows of faaskit_search_terms, words of the search rows' vectors)."""
    with psycopg.connect(url, autocommit=True) as conn:
        kept = conn.execute("SELECT count(*) FROM faaskit_search_terms").fetchone()
        expected = conn.execute(_EXPECTED).fetchone()
    assert kept is not None and expected is not None
    return kept[0], expected[0]


async def test_writes_keep_the_words_and_an_old_database_gets_them(postgres_url: str) -> None:
    oracle = Oracle("postgres")
    store = create_store(postgres_url)
    await store.open()
    try:
        await seeded(store, oracle)
        await changed(store, oracle)  # updates and deletes
        kept, expected = _terms(postgres_url)
        assert kept == expected > 0
    finally:
        await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as before the table
        conn.execute("DROP TRIGGER faaskit_search_terms_kept ON faaskit_search")
        conn.execute("DROP TABLE faaskit_search_terms")
        conn.execute("UPDATE faaskit_schema SET version = 0")

    reopened = create_store(postgres_url)
    await reopened.open()
    try:
        kept, expected = _terms(postgres_url)
        assert kept == expected
        await check(reopened, oracle, seed=9)
    finally:
        await reopened.close()
