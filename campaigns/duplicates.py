"""Finding a contact that already exists: same e-mail, same phone, or the same company
under another spelling (Cyrillic or Latin, a legal form more or less, a small typo).

E-mail and phone are exact (both are stored normalised). Companies are compared by
their keys (contact_fields.company_key) with RapidFuzz. find_matches() serves one
contact (the card): SQL narrows the candidates, Python scores them. DuplicateIndex
serves an import: the stored contacts the file's rows can reach (Reach) are loaded once
into memory and every row of the file is looked up there, with no query per row.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process
from sqlalchemy import or_, select, text

from .contact_fields import FieldError, company_key, key_names, normalize_email, normalize_phone, split_company
from .db import utcnow
from .models import Advisor, Contact, Note, NoteKind

# fuzz.ratio (0..100) at or above which two company names are taken for one company.
# One typo in a ten-letter name scores ~90; "газпром" vs "газпромнефть" scores 78.
COMPANY_THRESHOLD = 85.0
# Shorter names (МТС, ГАЗ) are too easy to confuse: they must be equal.
MIN_FUZZY_LENGTH = 5
# Candidates are grouped by the beginning and by the end of a name, so a typo in
# the middle or at one end still meets its original.
BLOCK_LENGTH = 4
# A one-word name found after the first word of a longer one, in any case: «Касперский» in
# «АО «Лаборатория Касперского»», «Илим» in «Группа Илим». A name that only starts with it is
# another company («Газпром нефть», «Toyota Motor»). The words share at least WORD_STEM
# letters from the start and differ only in an ending of up to WORD_ENDING letters.
WORD_STEM = 6
WORD_ENDING = 3
WORD_SCORE = 90.0
WORD_BLOCK = 5

_DIGITS = re.compile(r"\d+")
_REASON_ORDER = {"email": 0, "phone": 1, "company": 2}


@dataclass(frozen=True)
class Match:
    contact_id: int
    owner_id: int
    owner_name: str
    reason: str  # "email" | "phone" | "company"
    detail: str  # Russian, e.g. «та же эл. почта ivan@example.com»
    score: float  # 1.0 for e-mail and phone; the company similarity 0..1


@dataclass
class Entry:
    """A contact (or a row of a file being imported) as the index knows it."""

    contact_id: int | None
    owner_id: int | None
    owner_name: str
    email: str | None = None
    phone: str | None = None
    names: tuple[str, ...] = ()
    label: str = ""  # the company as people wrote it, for messages
    archived: bool = False
    row: int | None = None  # the file's row number, for rows of an import
    person: str = ""  # person_key() of the contact's name: the same person at the same company


@dataclass(frozen=True)
class Hit:
    entry: Entry
    reason: str
    detail: str
    score: float

    def as_match(self) -> Match:
        assert self.entry.contact_id is not None and self.entry.owner_id is not None  # a stored contact
        return Match(
            contact_id=self.entry.contact_id,
            owner_id=self.entry.owner_id,
            owner_name=self.entry.owner_name,
            reason=self.reason,
            detail=self.detail,
            score=self.score,
        )


def company_label(company: str | None, alias: str | None) -> str:
    company, alias = (company or "").strip(), (alias or "").strip()
    return f"{company} ({alias})" if company and alias else company or alias


def _blocks(name: str) -> tuple[str, str]:
    # Numbers must agree anyway (name_similarity), so they are part of the block: the
    # thousand «Мостострой-N» of a big file do not all land in one block.
    digits = "#" + "".join(_DIGITS.findall(name))
    return "<" + name[:BLOCK_LENGTH] + digits, name[-BLOCK_LENGTH:] + ">" + digits


def name_similarity(a: str, b: str) -> float:
    """0..100; names shorter than MIN_FUZZY_LENGTH count only when equal.

    Numbers must agree: «Мостострой-6» and «Мостострой-8» are different companies,
    however alike the letters. A one-word name that is a later word of the other name (up
    to a case ending) scores WORD_SCORE.
    """
    if a == b:
        return 100.0
    if min(len(a), len(b)) < MIN_FUZZY_LENGTH or _DIGITS.findall(a) != _DIGITS.findall(b):
        return 0.0
    score = fuzz.ratio(a, b)
    if score < WORD_SCORE and (" " not in a or " " not in b):
        single, other = (a, b) if " " not in a else (b, a)
        if any(_same_word(single, word) for word in other.split()[1:]):
            return WORD_SCORE
    return score


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return len(a) >= MIN_FUZZY_LENGTH
    stem = len(os.path.commonprefix((a, b)))
    return stem >= WORD_STEM and max(len(a), len(b)) - stem <= WORD_ENDING


def _word_blocks(name: str) -> list[str]:
    """The beginnings of the words that can meet a one-word name: the name itself, or the
    words after the first of a longer one."""
    words = name.split()
    return [word[:WORD_BLOCK] for word in (words[1:] or words) if len(word) >= MIN_FUZZY_LENGTH]


def _company_detail(entry: Entry, score: float) -> str:
    word = "та же компания" if score >= 100 else f"похожая компания ({round(score)}%)"
    return f"{word} «{entry.label}»" + (" (в архиве)" if entry.archived else "")


def _hits(entry: Entry, email: str | None, phone: str | None, names: tuple[str, ...]) -> Hit | None:
    """The strongest reason why entry is the same contact, or None."""
    suffix = " (в архиве)" if entry.archived else ""
    if email and entry.email == email:
        return Hit(entry, "email", f"та же эл. почта {email}{suffix}", 1.0)
    if phone and entry.phone == phone:
        return Hit(entry, "phone", f"тот же телефон {phone}{suffix}", 1.0)
    best = max((name_similarity(q, n) for q in names for n in entry.names), default=0.0)
    if best >= COMPANY_THRESHOLD:
        return Hit(entry, "company", _company_detail(entry, best), best / 100)
    return None


def person_key(first_name: str | None, last_name: str | None) -> str:
    """ "Олег Петров" and "ПЕТРОВ олег" are the same person; "!" (name unknown) is nobody."""
    words = [w for w in f"{first_name or ''} {last_name or ''}".lower().replace("ё", "е").split() if w != "!"]
    return " ".join(sorted(words))


def _ordered(hits) -> list[Hit]:
    return sorted(hits, key=lambda h: (_REASON_ORDER[h.reason], -h.score, h.entry.row or 0, h.entry.contact_id or 0))


@dataclass
class DuplicateIndex:
    """Contacts in memory, looked up by e-mail, phone and company names.

    Built once per import (DuplicateIndex.load, of the contacts the file can reach: every
    contact costs ≈ 20 µs to index, 20 s at a million) and, for the file itself, extended
    with each accepted row, so duplicates inside the file are found too.
    """

    by_email: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    by_phone: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    block_names: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    block_entries: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    # One-word names by their beginning; the later words of longer names by theirs (WORD_STEM).
    single_words: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    inner_words: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))

    def add(self, entry: Entry) -> None:
        if entry.email:
            self.by_email[entry.email].append(entry)
        if entry.phone:
            self.by_phone[entry.phone].append(entry)
        for name in entry.names:
            self.by_name[name].append(entry)
            if len(name) >= MIN_FUZZY_LENGTH:
                for block in _blocks(name):
                    self.block_names[block].append(name)
                    self.block_entries[block].append(entry)
            words = self.single_words if " " not in name else self.inner_words
            for block in _word_blocks(name):
                words[block].append(entry)

    def lookup(self, *, email: str | None = None, phone: str | None = None, names=()) -> list[Hit]:
        """Every entry that matches, strongest reason first (at most one hit per entry)."""
        names = tuple(names)
        candidates: dict[int, Entry] = {}
        for entry in self.by_email.get(email, ()) if email else ():
            candidates[id(entry)] = entry
        for entry in self.by_phone.get(phone, ()) if phone else ():
            candidates[id(entry)] = entry
        for name in names:
            for entry in self.by_name.get(name, ()):
                candidates[id(entry)] = entry
            if len(name) < MIN_FUZZY_LENGTH:
                continue
            for block in _blocks(name):
                choices = self.block_names.get(block)
                if not choices:
                    continue
                found = process.extract(name, choices, scorer=fuzz.ratio, score_cutoff=COMPANY_THRESHOLD, limit=None)
                digits = _DIGITS.findall(name)
                for choice, _score, index in found:
                    if _DIGITS.findall(choice) == digits:
                        entry = self.block_entries[block][index]
                        candidates[id(entry)] = entry
            # _hits() decides; these only bring the one-word names and the words of longer ones.
            words = self.inner_words if " " not in name else self.single_words
            for block in _word_blocks(name):
                for entry in words.get(block, ()):
                    candidates[id(entry)] = entry
        hits = (_hits(entry, email, phone, names) for entry in candidates.values())
        return _ordered(hit for hit in hits if hit)

    @classmethod
    def load(cls, session, near: Reach | None = None) -> DuplicateIndex:
        """All contacts (archived ones too: an archived contact still has its owner); with `near`,
        only those a lookup of its keys can reach (Reach) — the same hits, a fraction of the index."""
        index = cls()
        query = select(
            Contact.id,
            Contact.owner_id,
            Advisor.name,
            Contact.email,
            Contact.phone,
            Contact.company,
            Contact.company_alias,
            Contact.company_key,
            Contact.archived_at,
            Contact.first_name,
            Contact.last_name,
        ).join(Advisor, Advisor.id == Contact.owner_id)
        for row in session.execute(query):
            contact_id, owner_id, owner_name, email, phone, company, alias, key, archived_at = row[:9]
            names = _names(company, alias, key)
            if near is not None and not near.reaches((email or "").lower(), phone, names):
                continue
            entry = _entry(contact_id, owner_id, owner_name, email, phone, company, alias, key, archived_at, names)
            entry.person = person_key(row.first_name, row.last_name)
            index.add(entry)
        return index


@dataclass
class Reach:
    """What the lookups of an import will ask for: its e-mails, phones and company names.

    `lookup` reaches an entry only through the same e-mail, the same phone, the same name, a
    name block (_blocks) or a word block (_word_blocks) of a name it is given, so an index of
    the contacts that share one of these with the file finds, for every row of the file, the
    very hits the index of all contacts finds — without building entries for the others.
    """

    emails: set[str]
    phones: set[str]
    names: set[str]
    blocks: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.blocks = {block for name in self.names if len(name) >= MIN_FUZZY_LENGTH for block in _blocks(name)}
        self.words = {block for name in self.names for block in _word_blocks(name)}

    def reaches(self, email: str | None, phone: str | None, names: tuple[str, ...]) -> bool:
        if (email and email in self.emails) or (phone and phone in self.phones):
            return True
        for name in names:
            if name in self.names or any(block in self.words for block in _word_blocks(name)):
                return True
            if len(name) >= MIN_FUZZY_LENGTH and any(block in self.blocks for block in _blocks(name)):
                return True
        return False


def _names(company, alias, key) -> tuple[str, ...]:
    # A contact written without the key (an old row, a raw insert) is still found.
    return tuple(key_names(key or company_key(company, alias)))


def _entry(
    contact_id, owner_id, owner_name, email, phone, company, alias, key, archived_at: datetime | None, names=None
) -> Entry:
    if names is None:
        names = _names(company, alias, key)
    return Entry(
        contact_id=contact_id,
        owner_id=owner_id,
        owner_name=owner_name,
        email=(email or "").lower() or None,
        phone=phone or None,
        names=names,
        label=company_label(company, alias),
        archived=archived_at is not None,
    )


def query_names(company: str | None, alias: str | None = None) -> tuple[str, ...]:
    """The names to look for; "Тойота (Toyota)" given as one string counts as both."""
    if alias is None and company and "(" in company:
        company, alias = split_company(company)
    return tuple(key_names(company_key(company, alias or "")))


def _quiet(normalize, raw):
    try:
        return normalize(raw)
    except FieldError:
        return None


def find_matches(
    session,
    *,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    alias: str | None = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[Match]:
    """Existing contacts that may be the one about to be created (or edited: exclude_id).

    Invalid e-mail or phone values are ignored here; the form reports them.
    """
    email = _quiet(normalize_email, email)
    phone = _quiet(normalize_phone, phone)
    names = query_names(company, alias)
    conditions = []
    if email:
        conditions.append(Contact.email == email)
    if phone:
        conditions.append(Contact.phone == phone)
    for name in names:
        start, end = name[:BLOCK_LENGTH], name[-BLOCK_LENGTH:]
        conditions.append(Contact.company_key.like(f"%|{start}%"))
        conditions.append(Contact.company_key.like(f"%{end}|%"))
        for block in _word_blocks(name):  # a one-word name as a later word of a longer one
            conditions.append(Contact.company_key.like(f"% {block}%" if " " not in name else f"%|{block}%"))
    if names:
        # Rows saved without a key are scored from their company columns.
        conditions.append((Contact.company_key == "") & (Contact.company != ""))
    if not conditions:
        return []
    query = (
        select(
            Contact.id,
            Contact.owner_id,
            Advisor.name,
            Contact.email,
            Contact.phone,
            Contact.company,
            Contact.company_alias,
            Contact.company_key,
            Contact.archived_at,
        )
        .join(Advisor, Advisor.id == Contact.owner_id)
        .where(or_(*conditions))
    )
    if exclude_id is not None:
        query = query.where(Contact.id != exclude_id)
    hits = (_hits(_entry(*row), email, phone, names) for row in session.execute(query))
    return [hit.as_match() for hit in _ordered(hit for hit in hits if hit)][:limit]


# pg_advisory_xact_lock key: "campaigns contacts" — any constant shared by every writer.
CONTACT_WRITE_LOCK = 0x636F6E7461637473


def lock_contact_writes(session) -> None:
    """Hold the contacts' write lock until the transaction ends.

    Taken before the duplicate check by everything that creates contacts, so two
    imports (or an import and a contact typed by hand) cannot both find an e-mail new
    and both insert it. PostgreSQL: a transaction-level advisory lock (released by the
    commit or rollback). SQLite: writers are serialised by the database, but a
    transaction takes the write lock only at its first write — so we start with a
    write that changes nothing, and the check runs while the lock is held.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CONTACT_WRITE_LOCK})
    elif connection.dialect.name == "sqlite":
        connection.execute(text("UPDATE contacts SET id = id WHERE 0"))


# --- a colleague tried to add a contact someone already owns ---------------------------------

ATTEMPT_NOTE = "Попытка добавить этот контакт ещё раз"  # the note's beginning: attempts_since finds it by it


def record_attempt(session, user: Advisor, matches: list[Match], now: datetime | None = None) -> int:
    """`user` tried to add a contact whose address or phone others' contacts have: each gets a note,
    and its owner learns it from the morning digest (attempts_since). Once per contact, user and
    day (the form shown again is the same attempt). Returns how many notes were written."""

    now = now or utcnow()
    # The same address or phone is the same person; a similar company name may be a neighbour.
    targets = {m.contact_id: m for m in matches if m.owner_id != user.id and m.reason in ("email", "phone")}
    if not targets:
        return 0
    seen = set(
        session.scalars(
            select(Note.contact_id).where(
                Note.contact_id.in_(list(targets)),
                Note.author_id == user.id,
                Note.kind == NoteKind.SYSTEM,
                Note.body.startswith(ATTEMPT_NOTE),
                Note.created_at >= now - timedelta(days=1),
            )
        )
    )
    for contact_id, match in targets.items():
        if contact_id not in seen:
            session.add(
                Note(
                    contact_id=contact_id,
                    kind=NoteKind.SYSTEM,
                    author_id=user.id,
                    created_at=now,
                    body=f"{ATTEMPT_NOTE}: {user.name} ({match.detail}). Контакт остался у владельца.",
                )
            )
    session.flush()
    return len(targets) - len(seen)


def attempts_since(session, owner: Advisor, since: datetime) -> list:
    """Notes of colleagues' attempts to add `owner`'s contacts since `since`, newest first."""

    return list(
        session.scalars(
            select(Note)
            .join(Contact, Contact.id == Note.contact_id)
            .where(
                Contact.owner_id == owner.id,
                Note.kind == NoteKind.SYSTEM,
                Note.body.startswith(ATTEMPT_NOTE),
                Note.created_at >= since,
                Note.author_id != owner.id,
            )
            .order_by(Note.created_at.desc(), Note.id.desc())
        )
    )
