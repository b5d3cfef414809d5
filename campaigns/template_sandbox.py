"""The offer template sandbox: compile, check and render marketing's Jinja2 templates. Pure: no database, no Flask.

Marketing writes the subject and the body as Jinja2 templates. They are user input that runs
on our server for every recipient, so they are compiled in Jinja2's immutable sandbox with
StrictUndefined, with the globals reduced to ``range``, and checked *before* anything runs:
any reach for Python internals (an attribute or key starting with ``_``, ``|attr('_…')``,
``import``/``include``/``extends``) is refused with a Russian message. The sandbox itself
stays in place as the second line of defence for whatever the static check cannot see.

The body is plain text (autoescape off); compose derives the HTML part from it.

Every render runs on a budget, wherever it happens (preview, lint, test send, the workers):
no width, padding or repeat argument beyond a letter's needs, no string grown past the
output limit by a filter, an operator or a method (checked before the work is done), at most
_MAX_STEPS loop iterations and calls, at most _MAX_SECONDS of wall-clock time, and the output
counted while it is generated. A template over budget is refused when it is saved.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache, wraps

from jinja2 import ChainableUndefined, Environment, StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import jinja_ru

# RFC 5322 recommends lines of at most 78 characters; longer subjects are cut by mail apps.
MAX_SUBJECT_LENGTH = 78
_MAX_OUTPUT = 200_000  # characters of rendered body: a letter, not a book
_MAX_REPEAT = 10_000  # "x" * n and friends
_MAX_WIDTH = 1_000  # a width, padding, precision or separator a template asks for
_MAX_STEPS = 100_000  # loop iterations and calls in one render
_MAX_SECONDS = 1.0  # one render; a letter takes milliseconds
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


class OfferTemplateError(Exception):
    """A template cannot be used; ``str(error)`` is a Russian sentence for marketing."""


class OfferBudgetError(OfferTemplateError):
    """The template asks for more memory or time than a letter needs."""


class _Budget:
    """One render's allowance of steps (loop iterations, calls) and time."""

    def __init__(self):
        self.steps = 0
        self.deadline = time.monotonic() + _MAX_SECONDS

    def step(self) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise OfferBudgetError(f"слишком много повторений в циклах (больше {_MAX_STEPS})")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise OfferBudgetError(f"шаблон выполняется дольше {_MAX_SECONDS:g} с")


_BUDGET: ContextVar[_Budget | None] = ContextVar("offer_budget", default=None)


def _step() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.step()


def _too_long() -> OfferBudgetError:
    return OfferBudgetError(f"письмо получается слишком длинным (больше {_MAX_OUTPUT} знаков)")


def _check_size(size: int) -> None:
    if size > _MAX_OUTPUT:
        raise _too_long()


def _check_width(value, what: str = "ширина") -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float) and abs(value) > _MAX_WIDTH or isinstance(value, str) and len(value) > _MAX_WIDTH:
        raise OfferBudgetError(f"слишком большое значение: {what} больше {_MAX_WIDTH}")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(text: str) -> None:
    """'%030000000d' % 1: the width is allocated before any length check could run."""
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.groups():
            if number == "*" or number and int(number) > _MAX_WIDTH:
                raise OfferBudgetError(f"слишком большая ширина в формате «{match.group(0)[:20]}»")


def _check_brace_format(text: str) -> None:
    """'{:>30000000}'.format('a'): the same through str.format."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # the call itself will fail with a message of its own
    for _literal, _name, spec, _conversion in fields:
        if spec and ("{" in spec or any(int(n) > _MAX_WIDTH for n in re.findall(r"\d+", spec))):
            raise OfferBudgetError(f"слишком большая ширина в формате «{{:{spec[:20]}}}»")


def _check_str_method(text: str, name: str, args: tuple, kwargs: dict) -> None:
    if name in ("format", "format_map"):
        _check_brace_format(text)
        return
    values = [*args, *kwargs.values()]
    if name == "join" and values:
        items = values[0]
        _check_size(len(text) * max(len(items) - 1, 0) + sum(len(str(i)) for i in items))
    elif name == "replace" and len(values) >= 2:
        old, new = str(values[0]), str(values[1])
        occurrences = text.count(old) if old else len(text) + 1
        _check_size(len(text) + occurrences * max(len(new) - len(old), 0))
    else:  # ljust, rjust, center, zfill, expandtabs…: every number is a width
        for value in values:
            _check_width(value)


def _guard_filter(name: str, original, check):
    """A filter that checks its arguments (and counts a step) before doing the work."""

    @wraps(original)  # keeps Jinja's pass_context / pass_eval_context marks
    def guarded(*args, **kwargs):
        _step()
        args, kwargs = check(*args, **kwargs)
        result = original(*args, **kwargs)
        if isinstance(result, str):
            _check_size(len(result))
        return result

    return guarded


def _strip_context(args: tuple) -> tuple[tuple, tuple]:
    """(Jinja's context, eval context or environment argument if the filter takes one, the rest)."""
    if args and isinstance(args[0], Context | EvalContext | Environment):
        return args[:1], args[1:]
    return (), args


def _generic_check(*args, **kwargs):
    _head, rest = _strip_context(args)
    for value in [*rest[1:], *kwargs.values()]:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_REPEAT:
            raise OfferBudgetError(f"слишком большое число в фильтре: {value}")
    return args, kwargs


def _indent_check(*args, **kwargs):
    _head, rest = _strip_context(args)
    text = str(rest[0]) if rest else ""
    width = rest[1] if len(rest) > 1 else kwargs.get("width", 4)
    _check_width(width, "отступ")
    _check_size(len(text) + (text.count("\n") + 1) * (width if isinstance(width, int) else len(str(width))))
    return args, kwargs


def _format_check(*args, **kwargs):
    if args and isinstance(args[0], str):
        _check_percent_format(args[0])
    return args, kwargs


def _replace_check(*args, **kwargs):
    _head, rest = _strip_context(args)
    if len(rest) >= 3:
        _check_str_method(str(rest[0]), "replace", rest[1:3], {})
    return _generic_check(*args, **kwargs)


def _join_check(*args, **kwargs):
    head, rest = _strip_context(args)
    if rest:
        items = list(rest[0])  # materialised once: the size is known before joining
        separator = rest[1] if len(rest) > 1 else kwargs.get("d", "")
        _check_size(len(str(separator)) * max(len(items) - 1, 0) + sum(len(str(i)) for i in items))
        args = (*head, items, *rest[1:])
    return args, kwargs


def _wordwrap_check(*args, **kwargs):
    _head, rest = _strip_context(args)
    wrapstring = rest[3] if len(rest) > 3 else kwargs.get("wrapstring")
    if wrapstring is not None:
        _check_width(wrapstring, "разделитель строк")
    return _generic_check(*args, **kwargs)


def _width_check(*args, **kwargs):
    _head, rest = _strip_context(args)
    for value in [*rest[1:], *kwargs.values()]:
        _check_width(value)
    return args, kwargs


_FILTER_CHECKS = {
    "indent": _indent_check,
    "format": _format_check,
    "replace": _replace_check,
    "join": _join_check,
    "wordwrap": _wordwrap_check,
    "center": _width_check,
}


def _budgeted(iterable):
    """Every {% for %} iterates through this (see _OfferEnvironment._parse)."""
    for item in iterable:
        _step()
        yield item


class _OfferEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus the budget: operators, filters, calls and loops are limited."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context, operator, left, right):
        _step()
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise OfferBudgetError("слишком большая степень числа")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and n * max(len(seq), 1) > _MAX_REPEAT:
                    raise OfferBudgetError("слишком длинное повторение строки")
        if operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _check_size(len(left) + len(right))
        if operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    def call(self, context, obj, /, *args, **kwargs):
        _step()
        for value in (*args, *kwargs.values()):  # a macro doubling its argument at each call
            if isinstance(value, str | list | tuple):
                _check_size(len(value))
        target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, str):
            _check_size(len(result))
        return result

    def _parse(self, source, name, filename):
        # Every loop counts its iterations: {% for %} over anything, nested or not.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "budgeted_loop", [], [], None, None, lineno=loop.lineno)
        return tree


def _environment(undefined=StrictUndefined) -> _OfferEnvironment:
    env = _OfferEnvironment(undefined=undefined, autoescape=False, keep_trailing_newline=True)
    env.globals = {name: value for name, value in env.globals.items() if name in _ALLOWED_GLOBALS}
    env.filters = {
        name: _guard_filter(name, original, _FILTER_CHECKS.get(name, _generic_check)) for name, original in env.filters.items()
    }
    env.filters["budgeted_loop"] = _budgeted
    return env


_ENV = _environment()
# Saving a template tries it with the sample values; names it does not know (yet) render empty.
_TRIAL_ENV = _environment(undefined=ChainableUndefined)


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
        out = _generate(template, variables)
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


def _generate(template, variables: dict) -> str:
    """Render on a fresh budget, counting the output as it is generated."""
    budget = _Budget()
    token = _BUDGET.set(budget)
    try:
        parts, size = [], 0
        for part in template.generate(variables):
            size += len(part)
            _check_size(size)
            budget.check_time()
            parts.append(part)
    finally:
        _BUDGET.reset(token)
    return "".join(parts)


def _budget_problem(source: str) -> str | None:
    """Why ``source`` is over budget with the sample values, or None.

    Other failures (an unknown link, a division by zero) are the lint's to report: a
    draft may be unfinished. The budget is not a matter of finishing, so it is refused.
    """
    try:
        _generate(_TRIAL_ENV.from_string(source), sample_variables(None))
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
