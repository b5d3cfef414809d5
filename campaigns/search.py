"""Finding a contact by what a person types: a name, a company, an e-mail, a phone.

Every contact carries ``Contact.search_key``: its names, company (both spellings), position and
e-mail reduced by :func:`normalise` (lower case, «ё» as «е», Cyrillic transliterated to Latin,
punctuation dropped, the letters that Russian transliteration and English spelling write
differently made equal: contact_fields' company spelling rules), then its phone's digits as they
are. A query goes through the
same function, so «Соловьев» finds «Соловьёв», «Sokolov» finds «Соколов», «ржд логистика»
finds «РЖД-Логистика», whatever the case.

A contact matches when every word of the query occurs in its key (``LIKE '%word%'``); a
phone-looking query («8 916 123-45-67») matches by its digits. On PostgreSQL a pg_trgm GIN index on the key serves
these LIKEs (migration 0017); SQLite scans, which is fine at its sizes.

The key is written by the Contact model on every ORM write and by the importer's bulk insert;
whenever :func:`normalise` or :func:`contact_key` changes, a migration recomputes the stored keys
(:func:`backfill`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import and_, false

from .contact_fields import _NOT_WORD, _spelling, _transliterate

# Shorter words have no trigram the index could look up; they filter the rows the longer words found.
INDEXED_WORD = 3
_QUOTES = str.maketrans("", "", "'\"`")  # unidecode writes ь as ' and ъ as "


@lru_cache(maxsize=65536)
def normalise(text: str | None) -> str:
    """«Соловьёв-Петров (ООО «Ромашка»)» → "solovev petrov ooo romashka"."""
    value = (text or "").lower().replace("ё", "е")
    value = _transliterate(value).lower().translate(_QUOTES)
    return " ".join(_spelling(word) for word in _NOT_WORD.split(value) if word)


def contact_key(
    first_name: str | None,
    middle_name: str | None,
    last_name: str | None,
    company: str | None,
    company_alias: str | None,
    position: str | None,
    email: str | None,
    phone: str | None,
) -> str:
    """What Contact.search_key holds: the normalised fields, last name first, one space apart, then
    the phone's digits as they are (a phone query matches digits, and normalising would merge a
    doubled digit as it merges a doubled letter: +7 916 000-11-22 would be kept as 7916012)."""
    parts = (last_name, first_name, middle_name, company, company_alias, position, email)
    return " ".join(filter(None, [*(normalise(p) for p in parts), re.sub(r"\D", "", phone or "")]))


def key_of(contact) -> str:
    return contact_key(
        contact.first_name,
        contact.middle_name,
        contact.last_name,
        contact.company,
        contact.company_alias,
        contact.position,
        contact.email,
        contact.phone,
    )


def phone_digits(text: str) -> str | None:
    """The digits of a phone-looking query, in the E.164 form we store (8 916… → 7916…)."""
    if not re.fullmatch(r"[\d\s()+\-.]{5,}", text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits if len(digits) >= 4 else None


def condition(column, text: str):
    """The WHERE condition on a search key column for what the person typed."""
    text = " ".join(text.split())
    digits = phone_digits(text)
    if digits:  # a phone number (or a part of one): its digits, whatever separated them
        return column.like(f"%{digits}%")
    words = normalise(text).split()
    conditions = []
    if words:
        conditions.extend(
            [
                # «column || ''» keeps a short word off the index (it would make PostgreSQL read all of it).
                (column if len(word) >= INDEXED_WORD else column.concat("")).like(f"%{word}%")
                for word in dict.fromkeys(words)
            ]
        )
    return and_(*conditions) if conditions else false()


BATCH = 5000


def backfill(bind, only_changed: bool = True) -> int:
    """Recompute every contact's stored key (migrations, the benchmark's loader); returns the rows changed."""
    contacts = sa.table(
        "contacts",
        *(
            sa.column(name)
            for name in (
                "id",
                "first_name",
                "middle_name",
                "last_name",
                "company",
                "company_alias",
                "position",
                "email",
                "phone",
                "search_key",
            )
        ),
    )
    if bind.dialect.name == "postgresql":
        return _backfill_postgresql(bind, contacts)
    last, changed = 0, 0
    while True:  # keyset batches: a million contacts never sit in memory at once
        rows = bind.execute(sa.select(contacts).where(contacts.c.id > last).order_by(contacts.c.id).limit(BATCH)).all()
        if not rows:
            return changed
        updates = [{"row_id": row.id, "key": key} for row in rows if (key := key_of(row)) != row.search_key or not only_changed]
        if updates:
            bind.execute(
                contacts.update().where(contacts.c.id == sa.bindparam("row_id")).values(search_key=sa.bindparam("key")), updates
            )
            changed += len(updates)
        last = rows[-1].id


def _backfill_postgresql(bind, contacts) -> int:
    """The keys COPYed into a temporary table a batch at a time, then one UPDATE … FROM: a
    million single-row UPDATEs took half an hour on a loaded machine, this takes minutes."""
    cursor = bind.connection.driver_connection.cursor()
    cursor.execute("CREATE TEMPORARY TABLE search_keys (id integer PRIMARY KEY, key text) ON COMMIT DROP")
    last = 0
    while True:
        rows = bind.execute(sa.select(contacts).where(contacts.c.id > last).order_by(contacts.c.id).limit(BATCH * 10)).all()
        if not rows:
            break
        with cursor.copy("COPY search_keys (id, key) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.id, key_of(row)))
        last = rows[-1].id
    cursor.execute(
        "UPDATE contacts SET search_key = k.key FROM search_keys k"
        " WHERE contacts.id = k.id AND contacts.search_key IS DISTINCT FROM k.key"
    )
    changed = cursor.rowcount
    cursor.execute("DROP TABLE search_keys")
    return changed
