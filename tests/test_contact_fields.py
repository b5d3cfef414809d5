"""Normalising e-mail, phone and company names (pure functions)."""

from __future__ import annotations

import pytest

from campaigns.contact_fields import (
    FieldError,
    company_key,
    company_name_key,
    key_names,
    normalize_email,
    normalize_phone,
    split_company,
)


def test_it_normalizes_an_email_to_one_spelling():
    assert normalize_email("  Ivan.Petrov@Example.COM ") == "ivan.petrov@example.com"
    assert normalize_email("mailto:oleg@faubeha.ru") == "oleg@faubeha.ru"


def test_it_accepts_idn_domains():
    assert normalize_email("иван@почта.рф") == "иван@почта.рф"
    assert normalize_email("ivan@xn--80a1acny.xn--p1ai") == "ivan@почта.рф"


def test_it_treats_an_empty_email_as_none():
    assert normalize_email("") is None
    assert normalize_email("   ") is None
    assert normalize_email(None) is None


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("ivan.example.com", "нет знака @"),
        ("ivan@", "неверный домен"),
        ("a@x.ru, b@y.ru", "не один адрес"),
    ],
)
def test_it_explains_a_bad_email_in_russian(raw, words):
    with pytest.raises(FieldError) as error:
        normalize_email(raw)
    assert error.value.field == "email"
    assert words in str(error.value)
    assert raw in str(error.value)


@pytest.mark.parametrize(
    "raw",
    ["8 (916) 123-45-67", "+7 916 123 45 67", "9161234567", "+7(916)1234567 доб. 12"],
)
def test_it_normalizes_russian_phones_to_e164(raw):
    assert normalize_phone(raw) == "+79161234567"


def test_a_number_already_in_e164_is_judged_as_the_full_parse_judges_it():
    """The import's shortcut for +7 and ten digits (our own export's form) accepts and refuses exactly
    the numbers phonenumbers' full parse does, and gives the same E.164."""
    import random

    import phonenumbers

    rng = random.Random(15)
    numbers = ["+79161234567", "+78001234567", "+77012345678", "+73012345678", "+74951234567", "+71234567890"]
    numbers += [f"+7{rng.randint(1, 9)}{rng.randrange(10**9):09d}" for _ in range(3000)]
    for raw in numbers:
        parsed = phonenumbers.parse(raw, "RU")
        expected = None
        if phonenumbers.is_valid_number(parsed):
            expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        try:
            got = normalize_phone(raw)
        except FieldError:
            got = None
        assert got == expected, raw


def test_it_keeps_foreign_phones():
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"


def test_it_rejects_a_phone_that_is_not_a_number():
    for raw in ("123", "звонить секретарю"):
        with pytest.raises(FieldError) as error:
            normalize_phone(raw)
        assert error.value.field == "phone"
        assert "телефон" in str(error.value)
    assert normalize_phone("") is None


def test_it_splits_the_alias_in_brackets():
    assert split_company("Тойота (Toyota)") == ("Тойота", "Toyota")
    assert split_company("  ГК Рики   (Смешарики) ") == ("ГК Рики", "Смешарики")
    assert split_company("ООО «Ромашка»") == ("ООО «Ромашка»", "")
    assert split_company("(Смешарики)") == ("(Смешарики)", "")
    assert split_company("") == ("", "")


def test_it_gives_cyrillic_and_latin_spellings_one_key():
    assert company_name_key("Тойота") == company_name_key("Toyota")
    assert company_name_key("Яндекс") == company_name_key("Yandex LLC")
    assert company_name_key("Кока-Кола") == company_name_key("Coca-Cola")
    assert company_name_key("Лукойл") == company_name_key("LUKOIL")


def test_the_spelling_rules_skipped_for_a_word_without_their_letters_change_nothing():
    """_spelling applies a rule only to a word holding its letters: the same result as every rule in turn."""
    import random
    import re

    from campaigns.contact_fields import _DOUBLED, _spelling

    chain = [
        (r"c(?=h)", "C"),
        (r"c(?=[eiy])", "s"),
        (r"c", "k"),
        (r"C", "c"),
        (r"kh", "h"),
        (r"ph", "f"),
        (r"x", "ks"),
        (r"q", "k"),
        (r"w", "v"),
        (r"[jy]", "i"),
    ]

    def every_rule(word: str) -> str:
        for pattern, replacement in chain:
            word = re.sub(pattern, replacement, word)
        return _DOUBLED.sub(r"\1", word)

    rnd = random.Random(7)
    words = ["chekhov", "yandex", "coca", "cola", "philips", "quick", "jwc", "cyc", "ccchh", "C", "Ch", "7916000", "ooo"]
    words += ["".join(rnd.choice("chkpxqwjyeiaCo0") for _ in range(rnd.randint(1, 9))) for _ in range(5000)]
    for word in words:
        assert _spelling.__wrapped__(word) == every_rule(word), word


def test_it_drops_legal_forms_case_and_quotes():
    assert company_name_key("Силовые машины") == company_name_key("Силовые Машины ПАО")
    assert company_name_key("ООО «Ромашка»") == company_name_key('Общество с ограниченной ответственностью "Ромашка"')
    assert company_name_key("ГК Рики") == company_name_key("Рики")


def test_it_keeps_both_names_in_the_key():
    key = company_key(*split_company("ГК Рики (Смешарики)"))
    assert key_names(key) == [company_name_key("Рики"), company_name_key("Смешарики")]
    assert key.startswith("|") and key.endswith("|")
    assert key_names(company_key("Тойота", "Toyota")) == [company_name_key("Toyota")]
    assert company_key("", "") == ""


def test_it_fits_the_key_into_the_column():
    key = company_key("Очень длинное название " * 30, "Alias " * 30)
    assert len(key) <= 300
    assert key.endswith("|")


def test_it_judges_an_address_the_same_way_however_often_its_domain_recurs():
    # The domain is validated once per run and remembered; the verdict must not change.
    for _ in range(2):
        assert normalize_email("Oleg@ПОЧТА.РФ") == "oleg@почта.рф"
        assert normalize_email("anna@xn--80a1acny.xn--p1ai") == "anna@почта.рф"
        with pytest.raises(FieldError, match="неверный домен"):
            normalize_email("oleg@почта_рф")
        with pytest.raises(FieldError, match="не один адрес"):
            normalize_email("oleg@x.ru;anna@x.ru")


def test_it_rejects_a_bad_phone_every_time_it_appears():
    for _ in range(2):
        with pytest.raises(FieldError) as error:
            normalize_phone("12-34")
        assert error.value.field == "phone"
        assert normalize_phone("8 (916) 123-45-67") == "+79161234567"
