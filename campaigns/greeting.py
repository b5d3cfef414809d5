"""Safe personal greetings: «Здравствуйте, Олег!», «Здравствуйте, Василий Иванович!» or «Здравствуйте!!».

The contact fields come from spreadsheets and CRMs typed by hand, so the first-name field may hold a
surname, a full «Фамилия Имя Отчество», a company, a job title, an e-mail, initials or markup. A wrong
greeting is worse than an impersonal one, so every decision below leans towards the fallback.

Output shapes (nothing else is ever returned):

* ``FALLBACK`` = «Здравствуйте!!»;
* «Здравствуйте, Имя!» where Имя is Cyrillic or ASCII Latin letters, optionally two parts joined by one
  hyphen (Анна-Мария, Anna-Maria), each part capitalised (ОЛЕГ, олег -> Олег; ё is kept as typed);
* «Здравствуйте, Имя Отчество!» with a Cyrillic first name and a Cyrillic patronymic.

How a word is classified (pymorphy3 with the OpenCorpora Russian dictionary, every parse looked at):

* **first name** — some *dictionary* parse (not a guess of pymorphy's predictors) has ``Name`` in the
  nominative singular, and the summed score of those parses beats both the summed score of ``Surn``
  parses and of ``Orgn`` parses in the nominative. Common-noun readings never block a name: «Роза»,
  «Вера», «Надежда», «Любовь», «Лев», «Роман», «Слава» are real first names that happen to be nouns
  too, and a job title or a department («Директор», «Бухгалтерия») has no ``Name`` parse at all.
  Words whose surname reading dominates («Ким», «Ли», «Смит», «Гордон») or whose organisation reading
  does («Спартак») are not taken as first names; a tie counts as ambiguous, so «Богдан» and «Аделина»
  (as much surnames as names to pymorphy, like «Ильина» or «Зорина») fall back when alone, and «София»
  is only a place name (``Geox``) in the dictionary. A hyphenated word is a first name when both parts are
  and their genders are compatible.
* **patronymic** — a dictionary parse with ``Patr`` in the nominative singular («Иванович»,
  «Петровна»). Its gender must agree with the first name's (``ms-f`` names such as «Саша» agree with
  both); a disagreeing or non-patronymic middle name is dropped and the first name alone is used.
* **surname** — any parse with ``Surn`` in the nominative, *including* pymorphy's predictions for
  unknown words («Кондрашкин»). Predictions are trusted only for words that are dropped from the
  output, never for words that are printed.
* **initial** — a single letter («О.», «О. И.»); it may stand beside a name but is never printed.
* anything else (a common noun, an adjective, an abbreviation such as «ООО», an organisation, a
  number, an unknown non-surname word) poisons the field: the result is the fallback. So «ООО
  Виктория» and «Директор Олег» fall back although they contain a first name.

The first-name field is read as a person's name in any usual order: its (at most three) words must be
assignable the roles first name / surname / patronymic with exactly one first name, at most one
surname, at most one patronymic and the patronymic right after the first name, agreeing in gender;
initials are allowed besides. Every consistent assignment is enumerated; the greeting is used only if
all of them print the same thing. Thus «Кондрашов Василий» -> «Василий», «Кондрашов Василий Иванович»
and «Василий Иванович Кондрашов» -> «Василий Иванович» (the patronymic is a real one, so the polite
form is used), «Роман Олег» -> «Олег» (Роман can be a surname, Олег cannot), while «Анна Мария» (two
first names) or «Иванов Петров» (no first name) fall back. A valid patronymic in ``middle_name`` is
preferred to one found in the first-name field.

Before that the text is cleaned: NFKC normalisation, HTML entities decoded, ``<script>``/``<style>``
blocks and tags removed, e-mail addresses and URLs removed (an address is never mined for a name),
invisible format characters removed; it is then split on everything that is not a letter, a digit,
a hyphen or an underscore. Edge hyphens are stripped; a chunk containing digits or underscores, or a
letter outside the Russian and ASCII Latin alphabets, or mixing both scripts, poisons the field.
Fields longer than ``_MAX_FIELD_LENGTH`` characters fall back outright.

Latin first names (John, Maria, Anna). No maintained, compact package answers "is this Latin word a
first name": ``names-dataset`` is maintained but ships hundreds of megabytes of data loaded into memory,
``gender-guesser`` has been unmaintained since 2016. pymorphy3's dictionary already lists many foreign
first names in Cyrillic (Джон, Майкл, Мэри, Уильям), so a Latin word is transliterated into Cyrillic
with a small table of ambiguous letter correspondences, each with a cost (j -> дж 0, й 1; final e ->
silent 0; y -> и 0, ий 1, ...). The search walks pymorphy's own word DAWG and keeps only spellings
that are prefixes of real dictionary words, so it stays small and fast. The complete dictionary words
it reaches are classified as above and put in three kinds: first names, other proper names (oblique
forms such as «сергеи», surnames, places: neutral), and common words. A Latin word is a first name
when its cheapest first-name spelling costs at most ``_MAX_TRANSLIT_COST`` and is strictly cheaper than
every common-word spelling (John -> джон; Director -> директор, Toyota -> тойота, Client -> клиент are
common words). It is then printed in its Latin spelling, capitalised; it is never combined with a
(Cyrillic) patronymic. A Latin word that is not a name is "other" when a common word is among its
cheapest spellings, and otherwise a possible foreign surname (Smith, Ivanova). English spelling is
irregular, so some names are missed (Kate -> кат, Lisa -> лиса, James) and fall back, which is safe.
pymorphy knows no English, so a short list of English role, mailbox and legal-form words that do
transliterate into Russian names or might (Team -> Тим, Dear -> Дир, Hello -> Элла, Corp -> Карп) is
excluded explicitly.

The module is pure: the analyzer is loaded once, lazily, and results are cached per input.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

import pymorphy3
from pymorphy3.units import DictionaryAnalyzer

FALLBACK = "Здравствуйте!!"

_MAX_FIELD_LENGTH = 200
_MAX_WORDS = 3
_MAX_INITIALS = 2
_MAX_LATIN_LENGTH = 20
_TRANSLIT_BUDGET = 20_000
_MAX_TRANSLIT_COST = 2

# The only shapes a greeting may take; checked again before anything is returned.
_RESULT_RE = re.compile(r"^Здравствуйте, [А-ЯЁA-Z][а-яёa-z]+(-[А-ЯЁA-Z][а-яёa-z]+)?( [А-ЯЁ][а-яё]+)?!$")

_CYRILLIC = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
_LATIN = frozenset("abcdefghijklmnopqrstuvwxyz")

_SCRIPT_BLOCK_RE = re.compile(r"<\s*(script|style)\b.*?(<\s*/\s*\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^<>]*>")
_EMAIL_RE = re.compile(r"\S*@\S*")
_URL_RE = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*", re.IGNORECASE)
# Everything except letters, digits, hyphen and underscore separates words.
_SPLIT_RE = re.compile(r"[^\w-]+")
_HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-"})

_MASC, _FEMN = "masc", "femn"
_PROPER = frozenset(("Name", "Surn", "Patr", "Geox"))

# English words that stand in first-name fields of CRM exports instead of a name and that happen to
# transliterate into a Russian first name (Team -> Тим, Dear -> Дир, Hello -> Элла) or might: pymorphy
# knows no English, so these few are listed. Everything else is decided through the dictionary.
_LATIN_NOT_NAMES = frozenset(
    """
    admin all client colleague contact customer dear demo department friend guest hello hi hey info mail
    manager noreply office partner sales sir staff support team test user
    co corp company gmbh group holding inc llc ltd
    """.split()
)

# Latin -> Cyrillic correspondences used to find Cyrillic spellings of Latin names: "option:cost"
# pairs, the usual reading costing 0. An empty option means a silent letter (the h in John). A final
# "e" has its own entry ("e$"): it is usually silent in English (Jane, Anne, Michelle).
_TRANSLIT_TABLE = """
shch щ:0 | sch ш:0 щ:1 | tch ч:0 | dzh дж:0 | zh ж:0 | kh х:0 | ch ч:0 х:1 к:1 ш:1 | sh ш:0
ts ц:0 тс:1 | tz ц:0 | ph ф:0 | th т:0 с:2 | ck к:0 | qu кв:0 к:1 | dj дж:0 | gh г:0 :1 | wh у:0
ya я:0 ья:1 | yu ю:0 ью:1 | yo ё:0 йо:1 ьо:1 | ye е:0 ье:1 | ia ия:0 ья:1 иа:1 | iu ию:0 ью:1
ie ие:0 ье:1 и:1 | io ио:0 ьо:1 | iy ий:0 | ee и:0 | oo у:0 | ou у:0 оу:1 | ai ай:0 эй:1 е:1
ay ай:0 эй:1 ей:1 | ei ей:0 ай:1 эй:1 | ey ей:0 эй:1 и:1 | oy ой:0 | au ау:0 о:1 | ae э:0 е:1
ea и:1 еа:1 | ew ью:0 ю:1 | aw о:0 | ow оу:0 о:1 | e$ :0 е:1 и:1 э:1
a а:0 э:1 ей:2 я:2 | b б:0 | c к:0 с:0 ц:1 | d д:0 | e е:0 э:1 и:1 ь:2 :3 | f ф:0 | g г:0 дж:1 ж:1
h х:0 :1 | i и:0 ай:1 й:1 ь:2 | j дж:0 й:1 ж:1 х:2 | k к:0 | l л:0 ль:1 | m м:0 | n н:0
o о:0 а:2 | p п:0 | q к:0 | r р:0 | s с:0 з:1 | t т:0 | u у:0 ю:1 а:2 | v в:0 | w в:0 у:0
x кс:0 | y и:0 ий:1 й:1 ы:2 | z з:0 ц:1
"""
_TRANSLIT: dict[str, tuple[tuple[str, int], ...]] = {
    key: tuple((option, int(cost)) for option, cost in (pair.split(":") for pair in pairs))
    for key, *pairs in (entry.split() for entry in _TRANSLIT_TABLE.replace("\n", "|").split("|") if entry.strip())
}
_TRANSLIT_KEYS_BY_LENGTH = sorted(_TRANSLIT, key=lambda key: len(key.rstrip("$")), reverse=True)


@dataclass(frozen=True)
class _Word:
    """What one word of a field can be; a word with none of the roles is "other"."""

    text: str  # as it will be printed (only meaningful for names and patronymics)
    latin: bool = False
    name_genders: frozenset[str] = frozenset()  # non-empty: can be a first name
    patr_genders: frozenset[str] = frozenset()  # non-empty: can be a patronymic
    surname: bool = False
    initial: bool = False
    proper: bool = False  # some dictionary parse is a proper name (Name, Surn, Patr, Geox), any form

    @property
    def is_other(self) -> bool:
        return not (self.name_genders or self.patr_genders or self.surname or self.initial)


_OTHER = _Word(text="")


@lru_cache(maxsize=1)
def _morph() -> Any:
    """The pymorphy3 analyzer, loaded on first use only (it takes a moment and some memory)."""

    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=1)
def _dictionary_analyzer_type() -> type:

    return DictionaryAnalyzer


def _genders(grammemes: frozenset[str]) -> frozenset[str]:
    if "ms-f" in grammemes:
        return frozenset((_MASC, _FEMN))
    return frozenset(g for g in (_MASC, _FEMN) if g in grammemes)


def _capitalise(word: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in word.split("-"))


@lru_cache(maxsize=65536)
def _cyrillic_simple(word: str) -> _Word:
    """Classify one lower-case Cyrillic word without hyphens (see the module docstring)."""
    dictionary_analyzer = _dictionary_analyzer_type()
    name_score = surname_score = org_score = 0.0
    name_genders: set[str] = set()
    patr_genders: set[str] = set()
    proper = False
    for parse in _morph().parse(word):
        grammemes = parse.tag.grammemes
        from_dictionary = len(parse.methods_stack) == 1 and isinstance(parse.methods_stack[0][0], dictionary_analyzer)
        nominative = "nomn" in grammemes
        singular = "sing" in grammemes
        if "Surn" in grammemes and nominative:
            surname_score += parse.score
        if "Orgn" in grammemes and nominative:
            org_score += parse.score
        if from_dictionary and grammemes & _PROPER:
            proper = True
        if not (from_dictionary and nominative and singular):
            continue
        if "Name" in grammemes:
            name_score += parse.score
            name_genders |= _genders(grammemes)
        if "Patr" in grammemes:
            patr_genders |= _genders(grammemes)
    is_name = name_score > 0 and name_score > surname_score and name_score > org_score
    return _Word(
        text=_capitalise(word),
        name_genders=frozenset(name_genders) if is_name else frozenset(),
        patr_genders=frozenset(patr_genders),
        surname=surname_score > 0,
        proper=proper,
    )


def _cyrillic(word: str) -> _Word:
    parts = word.split("-")
    if len(parts) == 1:
        return _cyrillic_simple(word)
    if len(parts) != 2:
        return _OTHER
    first, second = (_cyrillic_simple(part) for part in parts)
    genders = first.name_genders & second.name_genders
    whole_is_surname = any("Surn" in p.tag.grammemes and "nomn" in p.tag.grammemes for p in _morph().parse(word))
    return _Word(
        text=_capitalise(word),
        name_genders=genders,
        surname=whole_is_surname or (first.surname and second.surname),
    )


def _dictionary_spellings(latin: str) -> dict[str, int]:
    """Cyrillic spellings of a Latin word that are words of pymorphy's dictionary, with their cost.

    The cost of a spelling is the sum of the costs of the options used. The search is a depth-first
    walk over the transliteration table that follows pymorphy's word DAWG (``dictionary.words.dct``,
    the DAWG-Python automaton pymorphy3 loads) edge by edge, so a branch dies as soon as no dictionary
    word starts with it; a step budget bounds it.
    """
    morph = _morph()
    dawg = morph.dictionary.words.dct
    budget = _TRANSLIT_BUDGET
    found: dict[str, int] = {}
    stack: list[tuple[int, int, str, int]] = [(0, dawg.ROOT, "", 0)]
    while stack and budget > 0:
        position, index, built, cost = stack.pop()
        budget -= 1
        if position == len(latin):
            if built and cost < found.get(built, cost + 1) and morph.word_is_known(built, strict=True):
                found[built] = cost
            continue
        for key in _TRANSLIT_KEYS_BY_LENGTH:
            letters = key.rstrip("$")
            if not latin.startswith(letters, position):
                continue
            if key.endswith("$") and position + len(letters) != len(latin):
                continue
            for option, option_cost in _TRANSLIT[key]:
                following = dawg.follow_bytes(option.encode("utf-8"), index) if option else index
                if following is not None:
                    stack.append((position + len(letters), following, built + option, cost + option_cost))
    return found


@lru_cache(maxsize=65536)
def _latin_simple(word: str) -> _Word:
    """A Latin word, judged by its cheapest dictionary transliterations (see the module docstring)."""
    if word in _LATIN_NOT_NAMES:
        return _OTHER
    name_cost = common_cost = person_cost = None
    name_genders: set[str] = set()
    for spelling, cost in _dictionary_spellings(word).items():
        analysed = _cyrillic_simple(spelling)
        if analysed.name_genders:
            if name_cost is None or cost < name_cost:
                name_cost, name_genders = cost, set(analysed.name_genders)
            elif cost == name_cost:
                name_genders |= analysed.name_genders
        elif analysed.proper:
            person_cost = cost if person_cost is None else min(person_cost, cost)
        else:
            common_cost = cost if common_cost is None else min(common_cost, cost)
    is_name = name_cost is not None and name_cost <= _MAX_TRANSLIT_COST and (common_cost is None or name_cost < common_cost)
    proper_cost = min((c for c in (name_cost, person_cost) if c is not None), default=None)
    is_other = common_cost is not None and (proper_cost is None or common_cost <= proper_cost)
    return _Word(
        text=_capitalise(word),
        latin=True,
        name_genders=frozenset(name_genders) if is_name else frozenset(),
        surname=not is_name and not is_other,
    )


def _latin(word: str) -> _Word:
    if len(word) > _MAX_LATIN_LENGTH:
        return _OTHER
    parts = word.split("-")
    if len(parts) == 1:
        return _latin_simple(word)
    if len(parts) != 2:
        return _OTHER
    first, second = (_latin_simple(part) for part in parts)
    return _Word(
        text=_capitalise(word),
        latin=True,
        name_genders=first.name_genders & second.name_genders,
        surname=first.surname and second.surname,
    )


def _classify(chunk: str) -> _Word:
    word = chunk.lower()
    letters = set(word) - {"-"}
    if not letters or "--" in word:
        return _OTHER
    if len(word) == 1:
        return _Word(text="", initial=True) if letters <= _CYRILLIC | _LATIN else _OTHER
    if letters <= _CYRILLIC:
        return _cyrillic(word)
    if letters <= _LATIN:
        return _latin(word)
    return _OTHER  # digits, underscores, other alphabets, mixed scripts


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = html.unescape(text)
    text = _SCRIPT_BLOCK_RE.sub(" ", text)
    text = _TAG_RE.sub(" ", text)
    text = _EMAIL_RE.sub(" ", text)
    text = _URL_RE.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.translate(_HYPHENS)


def _words(text: str) -> list[_Word] | None:
    """The classified words of a field, or None when the field cannot be a person's name."""
    words = []
    for chunk in _SPLIT_RE.split(_clean(text)):
        chunk = chunk.strip("-")
        if not chunk:
            continue
        word = _classify(chunk)
        if word.is_other:
            return None
        words.append(word)
    return words


def _agree(name: _Word, patronymic: _Word) -> bool:
    return not name.latin and bool(name.name_genders & patronymic.patr_genders)


def _resolve(words: list[_Word]) -> tuple[_Word, _Word | None] | None:
    """The first name (and patronymic) that every consistent reading of the field agrees on."""
    initials = sum(word.initial for word in words)
    full = [(i, word) for i, word in enumerate(words) if not word.initial]
    if initials > _MAX_INITIALS or not full or len(full) > _MAX_WORDS:
        return None
    choices = []
    for _, word in full:
        roles = []
        if word.name_genders:
            roles.append("name")
        if word.surname:
            roles.append("surname")
        if word.patr_genders:
            roles.append("patronymic")
        choices.append(roles)
    readings: set[tuple[str, str | None]] = set()
    result: tuple[_Word, _Word | None] | None = None
    for assignment in product(*choices):
        if assignment.count("name") != 1 or assignment.count("surname") > 1:
            continue
        if assignment.count("patronymic") > 1:
            continue
        name_at = assignment.index("name")
        name_index, name = full[name_at]
        patronymic = None
        if "patronymic" in assignment:
            patr_index, patronymic = full[assignment.index("patronymic")]
            if patr_index != name_index + 1 or not _agree(name, patronymic):
                continue
        readings.add((name.text, patronymic.text if patronymic else None))
        result = (name, patronymic)
    if len(readings) != 1:
        return None
    return result


def _middle_patronymic(middle_name: str | None, name: _Word) -> _Word | None:
    if not middle_name or len(middle_name) > _MAX_FIELD_LENGTH:
        return None
    words = _words(middle_name)
    if not words or len(words) != 1 or not words[0].patr_genders:
        return None
    return words[0] if _agree(name, words[0]) else None


@lru_cache(maxsize=65536)
def _greeting(first_name: str, middle_name: str | None) -> str:
    if len(first_name) > _MAX_FIELD_LENGTH:
        return FALLBACK
    words = _words(first_name)
    if not words:
        return FALLBACK
    resolved = _resolve(words)
    if resolved is None:
        return FALLBACK
    name, patronymic = resolved
    patronymic = _middle_patronymic(middle_name, name) or patronymic
    text = f"Здравствуйте, {name.text} {patronymic.text}!" if patronymic else f"Здравствуйте, {name.text}!"
    return text if _RESULT_RE.match(text) else FALLBACK


def greeting(first_name: Any, middle_name: Any = None) -> str:
    """«Здравствуйте, Имя!», «Здравствуйте, Имя Отчество!» or FALLBACK; see the module docstring."""
    if not isinstance(first_name, str):
        return FALLBACK
    return _greeting(first_name, middle_name if isinstance(middle_name, str) else None)


def greeting_is_fallback(first_name: Any, middle_name: Any = None) -> bool:
    """True when greeting() would use the impersonal FALLBACK."""
    return greeting(first_name, middle_name) == FALLBACK
