"""The offer template sandbox: compile, check and render marketing's Jinja2 templates. Pure: no database, no Flask.

Marketing writes the subject and the body as Jinja2 templates. They are user input that runs
on our server for every recipient, so they are compiled in Jinja2's immutable sandbox with
StrictUndefined, with the globals reduced to ``range``, and checked *before* anything runs:
any reach for Python internals (an attribute or key starting with ``_``, ``|attr('_…')``,
``import``/``include``/``extends``) is refused with a Russian message. The sandbox itself
stays in place as the second line of defence for whatever the static check cannot see.

The body is plain text (autoescape off); compose derives the HTML part from it.

Every render runs on a budget of memory and time (template_budget.py), wherever it happens
(preview, lint, test send, the workers). A template over budget is refused when it is saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables

from . import jinja_ru
from .template_budget import OfferBudgetError, OfferTemplateError, environment, generate

# RFC 5322 recommends lines of at most 78 characters; longer subjects are cut by mail apps.
MAX_SUBJECT_LENGTH = 78
MAX_SOURCE = 50_000  # characters of a subject or body template

VARIABLES: dict[str, str] = {
    "greeting": "Обращение: «Здравствуйте, Олег!», «Здравствуйте, Василий Иванович!» "
    "или «Здравствуйте!!», если имя в карточке не распознано",
    "contact.first_name": "Имя контакта, как записано в карточке",
    "contact.middle_name": "Отчество контакта",
    "contact.last_name": "Фамилия контакта",
    "contact.position": "Должность контакта",
    "company": "Компания контакта",
    "advisor.name": "Имя советника, от которого уходит письмо",
    "advisor.email": "Эл. почта советника",
    "advisor.phone": "Телефон советника",
    "advisor.signature": "Подпись советника (несколько строк)",
    "links.<имя>": "Отслеживаемая ссылка из списка ссылок предложения, например {{ links.discount }}",
    "catalog": "Отслеживаемая ссылка на загруженный каталог (PDF); пусто, если каталог не загружен",
    "unsubscribe_url": "Ссылка для отписки — обязательна в каждом письме",
    "tag.name": "Название тега, например «Строители»",
    "tag.kind": "Вид тега: industry (отрасль), holiday (праздник) или month (месяц закупки)",
    "year": "Год предложения",
}

# Top-level name -> allowed attributes (None: any, checked elsewhere — the offer's link names).
_MEMBERS: dict[str, frozenset[str] | None] = {}
for _key in VARIABLES:
    _top, _, _attr = _key.partition(".")
    if _top == "links":
        _MEMBERS[_top] = None
    elif _attr:
        _MEMBERS[_top] = (_MEMBERS.get(_top) or frozenset()) | {_attr}
    else:
        _MEMBERS.setdefault(_top, frozenset())
_ALLOWED_GLOBALS = frozenset({"range"})

RAW_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'«»]+")


_ENV = environment(_ALLOWED_GLOBALS)
# Saving a template tries it with the sample values; names it does not know (yet) render empty.
_TRIAL_ENV = environment(_ALLOWED_GLOBALS, undefined=ChainableUndefined)


# ------------------------------------------------------------------ static checks


@dataclass(frozen=True)
class Analysis:
    names: frozenset[str]  # undeclared top-level names the template reads
    members: frozenset[tuple[str, str]]  # (name, attribute) pairs read as name.attr / name["attr"]
    text: str  # the literal text outside {{ }} / {% %}


def _unsafe(name: object) -> bool:
    return isinstance(name, str) and name.startswith("_")


def _refuse(what: str) -> OfferTemplateError:
    return OfferTemplateError(
        f"Шаблон обращается к внутренностям Python ({what}) — это запрещено. Используйте только переменные из списка."
    )


@lru_cache(maxsize=512)
def analyse(source: str) -> Analysis:
    """Parse and statically vet one template; raise OfferTemplateError if it is unusable."""
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise OfferTemplateError(f"Ошибка в шаблоне, строка {exc.lineno}: {jinja_ru.explain(exc.message or '')}") from None
    members: set[tuple[str, str]] = set()
    text: list[str] = []
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr):
            if _unsafe(node.attr):
                raise _refuse(f"«.{node.attr}»")
            if isinstance(node.node, nodes.Name):
                members.add((node.node.name, node.attr))
        elif isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if _unsafe(key):
                raise _refuse(f"«[{key!r}]»")
            if isinstance(node.node, nodes.Name) and isinstance(key, str):
                members.add((node.node.name, key))
        elif isinstance(node, nodes.Filter | nodes.Test):
            if node.name in ("attr", "map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique"):
                for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
                    if isinstance(arg, nodes.Const) and _unsafe(arg.value):
                        raise _refuse(f"«{arg.value}»")
        elif isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
            raise OfferTemplateError("В шаблоне письма нельзя подключать другие шаблоны (import, include, extends).")
        elif isinstance(node, nodes.Name) and _unsafe(node.name):
            raise _refuse(f"«{node.name}»")
        elif isinstance(node, nodes.TemplateData):
            text.append(node.data)
    names = frozenset(find_undeclared_variables(tree))
    return Analysis(names=names, members=frozenset(members), text="\n".join(text))


def check_template(source: str) -> str | None:
    """Why ``source`` cannot be used at all (too long, syntax, reach for internals, over budget), or None.

    Unknown variables are not reported here (a draft may be unfinished); the lint reports them.
    """
    source = source or ""
    if len(source) > MAX_SOURCE:
        return f"Шаблон длиннее {MAX_SOURCE} знаков: это письмо, а не книга."
    try:
        analyse(source)
    except OfferTemplateError as exc:
        return str(exc)
    return _budget_problem(source)


@lru_cache(maxsize=512)
def _compiled(source: str):
    analyse(source)  # refuse before compiling anything that reaches for internals
    return _ENV.from_string(source)


def unknown_variables(analysis: Analysis, link_names: Iterable[str]) -> list[str]:
    link_names = set(link_names)
    unknown = sorted(name for name in analysis.names if name not in _MEMBERS and name not in _ALLOWED_GLOBALS)
    for name, attr in sorted(analysis.members):
        if name not in _MEMBERS or name not in analysis.names:
            continue  # unknown already, or a template-local variable
        members = _MEMBERS[name]
        allowed = link_names if members is None else members
        if attr not in allowed:
            unknown.append(f"{name}.{attr}")
    return unknown


def unknown_message(names: list[str]) -> str:
    listed = ", ".join(f"«{n}»" for n in names)
    word = "Неизвестная переменная" if len(names) == 1 else "Неизвестные переменные"
    return f"{word}: {listed}. Доступные переменные перечислены рядом с редактором."


# ------------------------------------------------------------------------ render


_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def _render(source: str, variables: dict, what: str) -> str:
    try:
        template = _compiled(source)
    except OfferTemplateError as exc:
        raise type(exc)(f"{what}: {exc}") from None
    missing = sorted(analyse(source).names - variables.keys() - _ALLOWED_GLOBALS)
    if missing:
        raise OfferTemplateError(f"{what}: {unknown_message(missing)}")
    try:
        out = generate(template, variables)
    except OfferTemplateError as exc:
        raise type(exc)(f"{what}: {exc}") from None
    except SecurityError:
        raise OfferTemplateError(f"{what}: {_refuse('запрещённое действие')}") from None
    except UndefinedError as exc:
        match = _UNDEFINED_NAME.search(exc.message or "")
        name = next((g for g in match.groups() if g), "?") if match else "?"
        raise OfferTemplateError(f"{what}: {unknown_message([name])}") from None
    except TemplateError as exc:
        raise OfferTemplateError(f"{what}: ошибка шаблона ({exc})") from None
    except Exception as exc:  # noqa: BLE001 — user code: division by zero, bad types…; say what happened
        raise OfferTemplateError(f"{what}: шаблон не выполняется ({type(exc).__name__}: {exc})") from None
    return out


def _budget_problem(source: str) -> str | None:
    """Why ``source`` is over budget with the sample values, or None.

    Other failures (an unknown link, a division by zero) are the lint's to report: a
    draft may be unfinished. The budget is not a matter of finishing, so it is refused.
    """
    try:
        generate(_TRIAL_ENV.from_string(source), sample_variables(None))
    except OfferBudgetError as exc:
        return f"Шаблон слишком тяжёлый: {exc}. Упростите его."
    except Exception:  # noqa: BLE001 — anything else is reported by the lint
        return None
    return None


def render_offer(offer, variables: dict) -> tuple[str, str]:
    """(subject, plain-text body) of ``offer`` for one recipient's ``variables``.

    Raises OfferTemplateError (Russian message) when a template is broken, reaches for
    Python internals or names a variable that ``variables`` does not have.
    """
    body = _render(offer.body or "", variables, "Текст").replace("\r\n", "\n")
    return render_subject(offer, variables), body


def render_subject(offer, variables: dict) -> str:
    """The subject line alone, as render_offer makes it (one line, spaces folded)."""
    return " ".join(_render(offer.subject or "", variables, "Тема").split())


def sample_variables(offer, *, catalog_url: str | None = "https://example.com/c/catalog") -> dict:
    """Stand-in values in the shape compose passes; the lint renders with these."""
    links = {
        link.name: f"https://example.com/c/{link.name}"
        for link in getattr(offer, "links", [])
        if not getattr(link, "is_trap", False)
    }
    tag = getattr(offer, "tag", None)
    return {
        "greeting": "Здравствуйте, Василий Иванович!",
        "contact": {"first_name": "Василий", "middle_name": "Иванович", "last_name": "Кондрашов", "position": "Директор"},
        "company": "Тойота",
        "advisor": {
            "name": "Анна Смирнова",
            "email": "anna@example.com",
            "phone": "+7 495 000-00-00",
            "signature": "С уважением,\nАнна Смирнова",
        },
        "links": links,
        "catalog": catalog_url if getattr(offer, "catalog_path", None) else None,
        "unsubscribe_url": "https://example.com/u/unsubscribe",
        "tag": {"name": getattr(tag, "name", "Строители"), "kind": str(getattr(tag, "kind", "industry"))},
        "year": getattr(offer, "year", None) or date.today().year,
    }
