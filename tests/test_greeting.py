"""The safe greeting: «Здравствуйте, Имя!», «Здравствуйте, Имя Отчество!» or «Здравствуйте!!».

Pure functions over strings; no fixtures from conftest are used.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.greeting import FALLBACK, greeting, greeting_is_fallback

SHAPE = re.compile(r"^Здравствуйте, [А-ЯЁA-Z][а-яёa-z]+(-[А-ЯЁA-Z][а-яёa-z]+)?( [А-ЯЁ][а-яё]+)?!$")


def hello(name: str) -> str:
    return f"Здравствуйте, {name}!"


# --- first names -------------------------------------------------------------------------------

PLAIN_NAMES = [
    "Олег",
    "Василий",
    "Анна",
    "Мария",
    "Марина",
    "Екатерина",
    "Наталья",
    "Дмитрий",
    "Сергей",
    "Ольга",
    "Татьяна",
    "Александр",
    "Александра",
    "Илья",
    "Никита",
    "Саша",
    "Пётр",
    "Фёдор",
    "Артём",
    "Семён",
    "Алёна",
    "Евгения",
    "Жанна",
    "Эльвира",
    "Тимур",
    "Айгуль",
]


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_it_greets_a_plain_first_name(name):
    assert greeting(name) == hello(name)
    assert not greeting_is_fallback(name)


@pytest.mark.parametrize(
    "name",
    # Names that are common nouns too: they are real first names and are greeted.
    ["Роза", "Вера", "Надежда", "Любовь", "Лев", "Роман", "Слава", "Лилия", "Максим", "Виктория"],
)
def test_it_greets_a_name_that_is_also_a_common_noun(name):
    assert greeting(name) == hello(name)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ОЛЕГ", "Олег"),
        ("олег", "Олег"),
        ("оЛЕг", "Олег"),
        ("АЛЁНА", "Алёна"),
        ("алёна", "Алёна"),
        ("Алена", "Алена"),  # typed without ё: kept as typed, not «corrected»
        ("ПЁТР", "Пётр"),
        ("анна-мария", "Анна-Мария"),
        ("АННА-МАРИЯ", "Анна-Мария"),
        ("Анна-Мария", "Анна-Мария"),
        ("жан-поль", "Жан-Поль"),
    ],
)
def test_it_greets_with_normalised_case_keeping_yo_and_hyphen(raw, expected):
    assert greeting(raw) == hello(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Олег  ", "Олег"),
        ("\tОлег\n", "Олег"),
        ("Олег!", "Олег"),
        ("Олег.", "Олег"),
        ("«Олег»", "Олег"),
        ('"Олег"', "Олег"),
        ("'Олег'", "Олег"),
        ("(Олег)", "Олег"),
        ("😀 Олег 😀", "Олег"),
        ("Олег😀", "Олег"),
        ("-Олег-", "Олег"),
        ("Олег\u00a0", "Олег"),
        ("Оле\u00adг", "Олег"),  # soft hyphen inside the word
        ("<b>Олег</b>", "Олег"),
        ("<p class='x'>Олег</p>", "Олег"),
        ("&lt;b&gt;Олег&lt;/b&gt;", "Олег"),
        ("<script>alert(1)</script>Олег", "Олег"),
        ("Олег oleg@mail.ru", "Олег"),
        ("Олег https://example.com", "Олег"),
        ("Анна\u2011Мария", "Анна-Мария"),  # non-breaking hyphen
    ],
)
def test_it_greets_through_punctuation_markup_and_noise(raw, expected):
    assert greeting(raw) == hello(expected)


# --- patronymics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "middle", "expected"),
    [
        ("Василий", "Иванович", "Василий Иванович"),
        ("Олег", "Петрович", "Олег Петрович"),
        ("Пётр", "Ильич", "Пётр Ильич"),
        ("Фома", "Фомич", "Фома Фомич"),
        ("Мария", "Петровна", "Мария Петровна"),
        ("Анна", "Ильинична", "Анна Ильинична"),
        ("Ольга", "Сергеевна", "Ольга Сергеевна"),
        ("Саша", "Ивановна", "Саша Ивановна"),  # ms-f name agrees with both genders
        ("Саша", "Иванович", "Саша Иванович"),
        ("Анна-Мария", "Ивановна", "Анна-Мария Ивановна"),
        ("Олег", "ИВАНОВИЧ", "Олег Иванович"),
        ("олег", "иванович", "Олег Иванович"),
        ("Олег", " Иванович! ", "Олег Иванович"),
        ("Олег", "<b>Иванович</b>", "Олег Иванович"),
    ],
)
def test_it_greets_with_a_real_patronymic(first, middle, expected):
    assert greeting(first, middle) == hello(expected)


@pytest.mark.parametrize(
    ("first", "middle"),
    [
        ("Олег", "Ивановна"),  # wrong gender
        ("Мария", "Петрович"),  # wrong gender
        ("Олег", "Иванов"),  # a surname, not a patronymic
        ("Олег", "Сергей"),  # a first name
        ("Олег", "И."),  # an initial
        ("Олег", "И"),
        ("Олег", "Петрович Иванов"),  # more than a patronymic
        ("Олег", "Директор"),
        ("Олег", "ivanovich"),  # Latin patronymics are not printed
        ("Олег", "Кондрашович"),  # only pymorphy's guess: not printed
        ("Олег", ""),
        ("Олег", "   "),
        ("Олег", "!"),
        ("Олег", "123"),
        ("Олег", None),
        ("John", "Иванович"),  # a Latin name is never combined with a patronymic
    ],
)
def test_it_greets_by_first_name_only_when_the_middle_name_is_no_fitting_patronymic(first, middle):
    assert greeting(first, middle) == hello(first)


# --- a whole name typed into the first-name field ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Кондрашов Василий", "Василий"),
        ("Василий Кондрашов", "Василий"),
        ("Иванов Иван", "Иван"),
        ("Иван Петров", "Иван"),
        ("Смирнова Мария", "Мария"),
        ("Кондрашов Василий Иванович", "Василий Иванович"),
        ("Василий Иванович Кондрашов", "Василий Иванович"),
        ("Иванова Мария Петровна", "Мария Петровна"),
        ("Мария Петровна Иванова", "Мария Петровна"),
        ("Василий Иванович", "Василий Иванович"),
        ("Лев Николаевич Толстой", "Лев Николаевич"),
        ("Иванов, Иван", "Иван"),
        ("Кондрашкин Олег", "Олег"),  # a surname only pymorphy's predictor knows
        ("Ким Олег", "Олег"),  # Ким is mostly a surname, Олег only a name
        ("Роман Олег", "Олег"),  # Роман can be a surname, Олег cannot
        ("Олег Роман", "Олег"),
        ("Олег И.", "Олег"),
        ("И. Олег", "Олег"),
        ("Иванов И. Иван", "Иван"),
        ("John Smith", "John"),
    ],
)
def test_it_greets_the_one_first_name_in_a_full_name(raw, expected):
    assert greeting(raw) == hello(expected)


def test_it_prefers_the_middle_name_field_patronymic_to_one_in_the_first_name_field():
    assert greeting("Василий Иванович", "Петрович") == hello("Василий Петрович")
    assert greeting("Василий Иванович", "Петровна") == hello("Василий Иванович")


# --- Latin names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John", "John"),
        ("JOHN", "John"),
        ("john", "John"),
        ("Maria", "Maria"),
        ("Anna", "Anna"),
        ("Michael", "Michael"),
        ("David", "David"),
        ("Oleg", "Oleg"),
        ("Sergey", "Sergey"),
        ("Olga", "Olga"),
        ("Dmitry", "Dmitry"),
        ("Ekaterina", "Ekaterina"),
        ("Yulia", "Yulia"),
        ("anna-maria", "Anna-Maria"),
    ],
)
def test_it_greets_a_latin_first_name(raw, expected):
    assert greeting(raw) == hello(expected)


# --- fallbacks ---------------------------------------------------------------------------------

EMPTY_LIKE = [None, "", " ", "   ", "\t\n", "!", "!!!", "?", ".", "-", "—", "...", "😀", "\u200b"]

SURNAMES = ["Иванов", "Кондрашов", "Смирнова", "Иванова", "Петров-Водкин", "Римский-Корсаков", "Цой", "Шмидт"]

ORGANISATIONS = [
    "ООО Ромашка",
    "ООО «Ромашка»",
    'ЗАО "Олег"',
    "ООО Виктория",  # a company named after a first name
    "ИП Олег",
    "ИП Иванов",
    "ПАО Газпром",
    "Газпром",
    "Яндекс",
    "Лукойл",
    "Спартак",  # the club outweighs the name
    "Ромашка",
    "Бухгалтерия",
    "Отдел продаж",
    "Приёмная",
    "Компания",
]

TITLES = [
    "Директор",
    "директор",
    "ДИРЕКТОР",
    "Генеральный директор",
    "Менеджер",
    "Секретарь",
    "Бухгалтер",
    "Руководитель",
    "Господин",
    "Коллега",
    "Клиент",
    "Директор Олег",  # a title beside a name poisons the field
    "Уважаемый Олег",
    "Олег (менеджер)",
]

FULL_NAMES_WITHOUT_ONE_CLEAR_FIRST_NAME = [
    "Анна Мария",  # two first names
    "Иванов Петров",  # no first name
    "Иванович",  # a patronymic alone
    "Петровна Мария",  # a patronymic before the name
    "Олег Ивановна",  # disagreeing patronymic inside the field
    "Олег и Мария",
    "Иванов И.И.",
    "И.И. Иванов",
    "Ким",  # mostly a surname
    "Ли",
    "Ким Ли",
    "Иванов Иван Иванович Петров",  # too many words
]

INITIALS = ["О.", "О", "О. И.", "О.И.", "A.", "J. S."]

EMAILS_AND_LINKS = [
    "oleg@mail.ru",
    "Oleg@Mail.Ru",
    "oleg.ivanov@example.com",
    "mailto:oleg@mail.ru",
    "@",
    "https://example.com",
    "www.example.com",
]

MARKUP = [
    "<script>alert(1)</script>",
    "<script>Олег</script>",
    "<style>Олег</style>",
    "<b></b>",
    "<img src=x onerror=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<",
    "</>",
]

DIGITS_AND_JUNK = [
    "Олег1",
    "Олег 2",
    "123",
    "007",
    "Oleg_Ivanov",
    "Олег--Мария",
    "Анна-Мария-Луиза",
    "Оleg",  # Latin letters inside a Cyrillic word
    "Олег Oleg",
    "Ολέγ",  # Greek
    "Олексій",  # Ukrainian letters
    "José",
    "名前",
    "Фамилия Имя Отчество",
    "Имя",
    "Тест",
    "Нет",
    "Неизвестно",
    "x" * 300,
    "Олег " * 100,
]

LATIN_NON_NAMES = [
    "Director",
    "director",
    "info",
    "INFO",
    "Toyota",
    "Sales",
    "Manager",
    "Admin",
    "Support",
    "Office",
    "Client",
    "Team",
    "Hello",
    "Dear",
    "Company",
    "Gazprom",
    "Smith",  # a surname alone
]


@pytest.mark.parametrize("raw", EMPTY_LIKE)
def test_it_falls_back_on_an_empty_or_punctuation_only_field(raw):
    assert greeting(raw) == FALLBACK
    assert greeting_is_fallback(raw)


@pytest.mark.parametrize("raw", SURNAMES)
def test_it_falls_back_on_a_surname_alone(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", ORGANISATIONS)
def test_it_falls_back_on_an_organisation(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", TITLES)
def test_it_falls_back_on_a_title_or_common_noun(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", FULL_NAMES_WITHOUT_ONE_CLEAR_FIRST_NAME)
def test_it_falls_back_when_the_words_do_not_resolve_to_one_first_name(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", INITIALS)
def test_it_falls_back_on_initials(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", EMAILS_AND_LINKS)
def test_it_falls_back_on_an_email_or_link(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", MARKUP)
def test_it_falls_back_on_markup_without_a_name(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", DIGITS_AND_JUNK)
def test_it_falls_back_on_digits_foreign_scripts_and_junk(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", LATIN_NON_NAMES)
def test_it_falls_back_on_a_latin_word_that_is_no_first_name(raw):
    assert greeting(raw) == FALLBACK


@pytest.mark.parametrize("raw", [42, 3.5, b"\xd0\x9e\xd0\xbb\xd0\xb5\xd0\xb3", ["Олег"], {"name": "Олег"}])
def test_it_falls_back_on_a_value_that_is_not_text(raw):
    assert greeting(raw) == FALLBACK
    assert greeting_is_fallback(raw)


def test_it_falls_back_on_a_patronymic_without_a_first_name():
    assert greeting("", "Иванович") == FALLBACK
    assert greeting(None, "Иванович") == FALLBACK
    assert greeting("Иванов", "Иванович") == FALLBACK


def test_it_exports_the_fallback_text():
    assert FALLBACK == "Здравствуйте!!"


def test_it_answers_repeated_calls_alike():
    assert greeting("Олег", "Иванович") == greeting("Олег", "Иванович") == hello("Олег Иванович")


# --- properties --------------------------------------------------------------------------------


def _check_shape(result: str) -> None:
    assert result == FALLBACK or SHAPE.match(result), result
    assert "<" not in result and ">" not in result and "@" not in result
    assert not any(ch.isdigit() for ch in result)


@settings(max_examples=300)
@given(st.text())
def test_it_gives_only_allowed_shapes_for_any_text(raw):
    result = greeting(raw)
    _check_shape(result)
    assert greeting_is_fallback(raw) == (result == FALLBACK)


@settings(max_examples=200)
@given(st.text(max_size=30), st.one_of(st.none(), st.text(max_size=30)))
def test_it_gives_only_allowed_shapes_for_any_text_with_a_middle_name(raw, middle):
    _check_shape(greeting(raw, middle))


LETTERS_AND_NOISE = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАЕЁИОУЯabcdehijklmnoprstuvyzAEJMO -.!@<>1'"


@settings(max_examples=300)
@given(st.text(alphabet=LETTERS_AND_NOISE, max_size=25), st.one_of(st.none(), st.text(LETTERS_AND_NOISE, max_size=12)))
def test_it_gives_only_allowed_shapes_for_any_letters_and_noise(raw, middle):
    _check_shape(greeting(raw, middle))


NAME_WORDS = st.sampled_from(
    ["Олег", "Иванов", "Иванович", "Мария", "Петровна", "ООО", "Директор", "John", "Smith", "О.", "<b>", "@", "1"]
)


@settings(max_examples=200)
@given(st.lists(NAME_WORDS, max_size=5), st.sampled_from([" ", ", ", "  ", "\t"]))
def test_it_gives_only_allowed_shapes_for_any_mix_of_name_like_words(words, separator):
    _check_shape(greeting(separator.join(words)))


REAL_FIRST_NAMES = [
    *PLAIN_NAMES,
    "Роза",
    "Вера",
    "Надежда",
    "Любовь",
    "Лев",
    "Анна-Мария",
    "John",
    "Maria",
    "Anna",
]


@st.composite
def case_variants(draw):
    name = draw(st.sampled_from(REAL_FIRST_NAMES))
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    typed = "".join(ch.upper() if flip else ch.lower() for ch, flip in zip(name, flips, strict=True))
    padding = draw(st.sampled_from(["", " ", "  ", "\t", "!"]))
    return name, padding + typed + padding


@settings(max_examples=300)
@given(case_variants())
def test_it_greets_a_real_first_name_in_any_case(variant):
    name, typed = variant
    assert greeting(typed) == hello(name)
    assert not greeting_is_fallback(typed)
