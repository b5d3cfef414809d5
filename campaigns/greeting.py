"""Safe personal greetings: «Здравствуйте, Олег!», «Здравствуйте, Василий Иванович!» or «Здравствуйте!!».

The contact fields come from spreadsheets and CRMs typed by hand, so the first-name field may hold a
surname, a full «Фамилия Имя Отчество», a company, a job title, an e-mail, initials or markup. A wrong
greeting is worse than an impersonal one, so every decision below leans towards the fallback.

Output shapes (nothing else is ever returned):

* ``FALLBACK`` = «Здравствуйте!!»;
* «Здравствуйте, Имя!» where Имя is Cyrillic or ASCII Latin letters, optionally two parts joined by one
  hyphen (Анна-Мария, Jean-Paul), each part capitalised (ОЛЕГ, олег -> Олег; ё is kept as typed);
* «Здравствуйте, Имя Отчество!» with a Cyrillic first name and a Cyrillic patronymic.

How a word is classified (pymorphy3 with the OpenCorpora Russian dictionary, every parse looked at):

* **first name** — some *dictionary* parse (not a guess of pymorphy's predictors) has ``Name`` in the
  nominative singular, and the summed score of those parses beats both the summed score of ``Surn``
  parses and of ``Orgn`` parses in the nominative. Common-noun readings never block a name: «Роза»,
  «Вера», «Надежда», «Любовь», «Лев», «Роман», «Слава» are real first names that happen to be nouns
  too, and a job title or a department («Директор», «Бухгалтерия») has no ``Name`` parse at all.
  Words whose surname reading dominates («Ким», «Ли», «Смит», «Гордон») or whose organisation reading
  does («Спартак») are not taken as first names. A hyphenated word is a first name when both parts are
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
first names in Cyrillic (Джон, Майкл, Мэри, Джеймс, Уильям), so a Latin word is transliterated into
Cyrillic with a small table of ambiguous letter correspondences (j -> дж/й/ж, h -> х/silent, y ->
и/й/ы/ий, ...). The search walks pymorphy's own word DAWG and keeps only spellings that are prefixes
of real dictionary words, so it is both small and fast; every complete dictionary word it reaches is
classified as above. A Latin word is a first name when some transliteration is one (it is printed in
its Latin spelling, capitalised); it is "other" when some transliteration is a non-person dictionary
word (Director -> директор, Toyota -> тойота); otherwise it is taken as a possible foreign surname.
A Latin first name is never combined with a (Cyrillic) patronymic.

The module is pure: the analyzer is loaded once, lazily, and results are cached per input.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

FALLBACK = "Здравствуйте!!"

_MAX_FIELD_LENGTH = 200
_MAX_WORDS = 3
_MAX_INITIALS = 2
_MAX_LATIN_LENGTH = 20
_TRANSLIT_BUDGET = 20_000

# The only shapes a greeting may take; checked again before anything is returned.
_RESULT_RE = re.compile(
    r"^Здравствуйте, [А-ЯЁA-Z][а-яёa-z]+(-[А-ЯЁA-Z][а-яёa-z]+)?( [А-ЯЁ][а-яё]+)?!$"
)

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

# Latin -> Cyrillic correspondences used to find Cyrillic spellings of Latin names. Several options
# per sequence; an empty option means "silent" (the h in John, the final e in Kate).
_TRANSLIT: dict[str, tuple[str, ...]] = {
    "shch": ("щ",),
    "sch": ("ш", "щ", "сх"),
    "tch": ("ч",),
    "dzh": ("дж",),
    "zh": ("ж",),
    "kh": ("х",),
    "ch": ("ч", "х", "к", "ш"),
    "sh": ("ш",),
    "ts": ("ц", "тс"),
    "tz": ("ц",),
    "ph": ("ф",),
    "th": ("т", "с"),
    "ck": ("к",),
    "qu": ("кв", "к"),
    "dj": ("дж",),
    "gh": ("г", ""),
    "wh": ("у",),
    "ya": ("я", "ья"),
    "yu": ("ю", "ью"),
    "yo": ("ё", "йо", "ьо"),
    "ye": ("е", "ье"),
    "ia": ("ия", "ья", "иа"),
    "iu": ("ию", "ью"),
    "ie": ("ие", "ье", "и"),
    "io": ("ио", "ьо"),
    "ee": ("и",),
    "oo": ("у",),
    "ou": ("у", "оу"),
    "ai": ("ай", "эй", "е"),
    "ay": ("ай", "эй", "ей"),
    "ei": ("ей", "ай", "эй"),
    "ey": ("ей", "эй", "и"),
    "oy": ("ой",),
    "iy": ("ий",),
    "au": ("ау", "о"),
    "ae": ("э", "е"),
    "ea": ("и", "еа"),
    "ew": ("ью", "ю"),
    "aw": ("о",),
    "ow": ("оу", "о"),
    "a": ("а", "э", "ей", "я"),
    "b": ("б",),
    "c": ("к", "с", "ц"),
    "d": ("д",),
    "e": ("е", "э", "и", "ь", ""),
    "f": ("ф",),
    "g": ("г", "дж", "ж"),
    "h": ("х", ""),
    "i": ("и", "ай", "й", "ь"),
    "j": ("дж", "й", "ж", "х"),
    "k": ("к",),
    "l": ("л", "ль"),
    "m": ("м",),
    "n": ("н",),
    "o": ("о", "а"),
    "p": ("п",),
    "q": ("к",),
    "r": ("р",),
    "s": ("с", "з"),
    "t": ("т",),
    "u": ("у", "ю", "а"),
    "v": ("в",),
    "w": ("в", "у"),
    "x": ("кс",),
    "y": ("и", "й", "ы", "ий"),
    "z": ("з", "ц"),
}
_TRANSLIT_KEYS_BY_LENGTH = sorted(_TRANSLIT, key=len, reverse=True)


@dataclass(frozen=True)
class _Word:
    """What one word of a field can be; a word with none of the roles is "other"."""

    text: str  # as it will be printed (only meaningful for names and patronymics)
    latin: bool = False
    name_genders: frozenset[str] = frozenset()  # non-empty: can be a first name
    patr_genders: frozenset[str] = frozenset()  # non-empty: can be a patronymic
    surname: bool = False
    initial: bool = False

    @property
    def is_other(self) -> bool:
        return not (self.name_genders or self.patr_genders or self.surname or self.initial)


_OTHER = _Word(text="")


@lru_cache(maxsize=1)
def _morph() -> Any:
    """The pymorphy3 analyzer, loaded on first use only (it takes a moment and some memory)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=1)
def _dictionary_analyzer_type() -> type:
    from pymorphy3.units import DictionaryAnalyzer

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
    for parse in _morph().parse(word):
        grammemes = parse.tag.grammemes
        from_dictionary = len(parse.methods_stack) == 1 and isinstance(
            parse.methods_stack[0][0], dictionary_analyzer
        )
        nominative = "nomn" in grammemes
        singular = "sing" in grammemes
        if "Surn" in grammemes and nominative:
            surname_score += parse.score
        if "Orgn" in grammemes and nominative:
            org_score += parse.score
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
    )


def _cyrillic(word: str) -> _Word:
    parts = word.split("-")
    if len(parts) == 1:
        return _cyrillic_simple(word)
    if len(parts) != 2:
        return _OTHER
    first, second = (_cyrillic_simple(part) for part in parts)
    genders = first.name_genders & second.name_genders
    whole_is_surname = any(
        "Surn" in p.tag.grammemes and "nomn" in p.tag.grammemes for p in _morph().parse(word)
    )
    return _Word(
        text=_capitalise(word),
        name_genders=genders,
        surname=whole_is_surname or (first.surname and second.surname),
    )


def _dictionary_spellings(latin: str) -> Iterator[str]:
    """Cyrillic spellings of a Latin word that are words of pymorphy's dictionary.

    A depth-first walk over the transliteration table that follows pymorphy's word DAWG edge by
    edge, so a branch dies as soon as no dictionary word starts with it; a step budget bounds it.
    """
    morph = _morph()
    dawg = morph.dictionary.words.dct
    budget = _TRANSLIT_BUDGET
    seen: set[str] = set()
    stack: list[tuple[int, int, str]] = [(0, dawg.ROOT, "")]
    while stack and budget > 0:
        position, index, built = stack.pop()
        budget -= 1
        if position == len(latin):
            if built and built not in seen and morph.word_is_known(built, strict=True):
                seen.add(built)
                yield built
            continue
        for key in _TRANSLIT_KEYS_BY_LENGTH:
            if not latin.startswith(key, position):
                continue
            for option in _TRANSLIT[key]:
                following = dawg.follow_bytes(option.encode("utf-8"), index) if option else index
                if following is not None:
                    stack.append((position + len(key), following, built + option))


@lru_cache(maxsize=65536)
def _latin_simple(word: str) -> _Word:
    name_genders: set[str] = set()
    common_word = False
    for spelling in _dictionary_spellings(word):
        analysed = _cyrillic_simple(spelling)
        if analysed.name_genders:
            name_genders |= analysed.name_genders
        elif analysed.is_other:
            common_word = True
    return _Word(
        text=_capitalise(word),
        latin=True,
        name_genders=frozenset(name_genders),
        surname=not name_genders and not common_word,
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
