"""Normalising the fields of a contact: e-mail, phone, company name and its alias.

Pure functions (no I/O). The card form, the import and the duplicate search all go
through them, so a value typed by hand and the same value read from a file compare equal.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT
from unidecode import unidecode

# Per-value caches: an import checks 100,000 rows whose domains, phones and company
# words repeat; the functions are pure, so a cached answer is the same answer.
_CACHE_SIZE = 65536


class FieldError(ValueError):
    """A field value cannot be used; str(error) is a Russian message for a person."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def normalize_email(raw: str | None) -> str | None:
    """A valid address, lower-cased; None for an empty value.

    Lower-casing the local part is not what RFC 5321 promises, but every mailbox our
    clients use ignores case, and one spelling per address is what makes duplicate
    search and the suppression list exact-match (and indexable).
    """
    value = (raw or "").strip()
    if not value:
        return None
    if value.lower().startswith("mailto:"):
        value = value[len("mailto:") :]
    fast = _plain_email(value)
    if fast is not None:
        return fast
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldError("email", _email_message(value, str(exc))) from None
    return result.normalized.lower()


# Well under the 254 octets email-validator allows, so the fast path never has to judge length.
_PLAIN_LENGTH = 200


def _plain_email(value: str) -> str | None:
    """The normalised address of a plain ASCII local part at a valid domain, or None.

    For such an address email-validator's verdict is the domain's verdict (the local
    part passes its own DOT_ATOM_TEXT test untouched), and the domain is validated once
    per import instead of once per row. Anything else — quoting, Unicode local parts,
    display names, an invalid domain (for its message) — goes the full way.
    """
    local, at, domain = value.partition("@")
    if not at or "@" in domain or not DOT_ATOM_TEXT.match(local):
        return None
    domains = _email_domain(domain)
    if domains is None:
        return None
    normalized, ascii_domain = domains
    if len(local) + 1 + max(len(normalized.encode()), len(ascii_domain)) > _PLAIN_LENGTH:
        return None
    return f"{local}@{normalized}".lower()


@lru_cache(maxsize=_CACHE_SIZE)
def _email_domain(domain: str) -> tuple[str, str] | None:
    """(normalised domain, its ASCII form) as email-validator gives them; None if invalid."""
    try:
        result = validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def _email_message(value: str, english: str) -> str:
    if "@" not in value:
        return f"В адресе эл. почты «{value}» нет знака @."
    if value.count("@") > 1 or any(sep in value for sep in (",", ";", " ")):
        return f"«{value}» — это не один адрес эл. почты; укажите один адрес."
    local, _, domain = value.rpartition("@")
    if not local:
        return f"В адресе эл. почты «{value}» нет имени до знака @."
    if not domain or "." not in domain or "domain" in english.lower() or "period" in english.lower():
        return f"В адресе эл. почты «{value}» неверный домен (часть после @)."
    return f"Адрес эл. почты «{value}» записан неверно."


def normalize_phone(raw: str | None, region: str = "RU") -> str | None:
    """The number in E.164 (+79161234567); None for an empty value.

    Extensions («доб. 123») are dropped: E.164 has no place for them, and the number
    alone is what duplicate search needs.
    """
    value = (raw or "").strip()
    if not value:
        return None
    phone, error = _parse_phone(value, region)
    if error:
        raise FieldError("phone", error)
    return phone


# A Russian number already in E.164 (+7 and ten digits, not starting with 0), as our own export
# writes them: parsing it could only give back country code 7 and these ten digits (a national
# prefix is never stripped from a ten-digit number: nine would be too short), so only the validity
# check is left to do.
_CANONICAL_RU = re.compile(r"\+7[1-9]\d{9}")


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_phone(value: str, region: str) -> tuple[str | None, str]:
    # Cached per raw string (a switchboard number recurs for every colleague); the
    # error travels as a value because lru_cache does not keep exceptions.
    if _CANONICAL_RU.fullmatch(value):
        if phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=7, national_number=int(value[2:]))):
            return value, ""
        return None, f"Номер телефона «{value}» неполный или неверный."
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None, f"«{value}» не похоже на номер телефона."
    if not phonenumbers.is_valid_number(number):
        return None, f"Номер телефона «{value}» неполный или неверный."
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


_ALIAS = re.compile(r"^(?P<company>.*?)\s*\((?P<alias>[^()]*)\)\s*$")
_SPACES = re.compile(r"\s+")


def split_company(raw: str | None) -> tuple[str, str]:
    """ "Тойота (Toyota)" -> ("Тойота", "Toyota"); a name without brackets has no alias."""
    value = _SPACES.sub(" ", (raw or "").strip())
    match = _ALIAS.match(value)
    if match and match.group("company").strip() and match.group("alias").strip():
        return match.group("company").strip(), match.group("alias").strip()
    return value, ""


# Legal forms and generic words that say nothing about which company it is
# (compared after transliteration, so the Cyrillic and Latin spellings are both here).
_LEGAL_FORMS = frozenset(
    unidecode(word).lower()
    for word in (
        "ООО ОАО ЗАО ПАО АО НАО ГК ИП ЧП ТОО ФГУП ГУП МУП ФГБУ ГБУ МБУ АНО НКО НП"
        " LLC Ltd Limited Inc Corp Corporation Co GmbH AG SA JSC PJSC OJSC CJSC PLC LLP"
    ).split()
)
_LEGAL_PHRASES = (
    "общество с ограниченной ответственностью",
    "публичное акционерное общество",
    "закрытое акционерное общество",
    "открытое акционерное общество",
    "акционерное общество",
    "индивидуальный предприниматель",
    "группа компаний",
    "group of companies",
)
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_DOUBLED = re.compile(r"(.)\1+")
# Letters that Russian transliteration and English spelling write differently, in order; each
# rule with the letters a word must hold for it to change anything (most words skip most rules).
_SPELLING = (
    (re.compile(r"c(?=h)"), "C", "c"),  # keep "ch" (ч) apart from the hard and soft c below
    (re.compile(r"c(?=[eiy])"), "s", "c"),
    (re.compile(r"c"), "k", "c"),
    (re.compile(r"C"), "c", "C"),
    (re.compile(r"kh"), "h", "kh"),
    (re.compile(r"ph"), "f", "ph"),
    (re.compile(r"x"), "ks", "x"),
    (re.compile(r"q"), "k", "q"),
    (re.compile(r"w"), "v", "w"),
    (re.compile(r"j"), "i", "j"),
    (re.compile(r"y"), "i", "y"),
)


@lru_cache(maxsize=_CACHE_SIZE)
def company_name_key(name: str | None) -> str:
    """One company name reduced to the letters that identify it, in Latin.

    «Силовые Машины ПАО» and «силовые машины» give the same key; «Тойота» and «Toyota»
    both give "toiota". Words stay separated by one space.
    """
    value = (name or "").lower().replace("ё", "е")
    for phrase in _LEGAL_PHRASES:
        value = value.replace(phrase, " ")
    value = _NOT_WORD.sub(" ", _transliterate(value).lower())
    return " ".join(_spelling(word) for word in value.split() if word not in _LEGAL_FORMS)


_PIECES = re.compile(r"\w+|\W")


def _transliterate(value: str) -> str:
    """unidecode(value), a word at a time: unidecode maps each character on its own, so
    the pieces give the same string, and the words of company names recur."""
    if value.isascii():
        return value
    return "".join(map(_transliterate_piece, _PIECES.findall(value)))


@lru_cache(maxsize=_CACHE_SIZE)
def _transliterate_piece(piece: str) -> str:
    return unidecode(piece)


@lru_cache(maxsize=_CACHE_SIZE)
def _spelling(word: str) -> str:
    # Cached per word: «строй», «газ», «ооо» recur across thousands of company names.
    for pattern, replacement, needs in _SPELLING:
        if needs in word:
            word = pattern.sub(replacement, word)
    # A substitution with a group reference costs a Python call per match: only words with a doubled letter pay it.
    return _DOUBLED.sub(r"\1", word) if _DOUBLED.search(word) else word


KEY_SEPARATOR = "|"
KEY_LENGTH = 300  # Contact.company_key


@lru_cache(maxsize=_CACHE_SIZE)
def company_key(company: str | None, alias: str | None = "") -> str:
    """Both names of a company as stored in Contact.company_key: "|toiota|toiota|".

    Every name is enclosed in separators, so SQL can look for one whole name with
    LIKE '%|name|%' and for a name's beginning with LIKE '%|prefix%'. Empty when the
    contact has no company.
    """
    names = []
    for name in (company, alias):
        key = company_name_key(name)
        if key and key not in names:
            names.append(key)
    if not names:
        return ""
    key = KEY_SEPARATOR + KEY_SEPARATOR.join(names) + KEY_SEPARATOR
    if len(key) > KEY_LENGTH:
        key = key[: KEY_LENGTH - 1].rstrip(KEY_SEPARATOR) + KEY_SEPARATOR
    return key


def key_names(key: str | None) -> list[str]:
    """The names held by a company_key()."""
    return [name for name in (key or "").split(KEY_SEPARATOR) if name]
