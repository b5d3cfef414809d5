"""The budget of an offer template's render: what a letter may cost in memory and time (pure).

Every render runs on a budget, wherever it happens (preview, lint, test send, the workers):
no width, padding or repeat argument beyond a letter's needs, no string grown past the
output limit by a filter, an operator or a method (checked before the work is done), at most
_MAX_STEPS loop iterations and calls, at most _MAX_SECONDS of wall-clock time, and the output
counted while it is generated. template_sandbox.py builds its environments here.
"""

from __future__ import annotations

import re
import string
import time
from contextvars import ContextVar
from functools import wraps

from jinja2 import Environment, StrictUndefined, nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

_MAX_OUTPUT = 200_000  # characters of rendered body: a letter, not a book
_MAX_REPEAT = 10_000  # "x" * n and friends
_MAX_WIDTH = 1_000  # a width, padding, precision or separator a template asks for
_MAX_STEPS = 100_000  # loop iterations and calls in one render
_MAX_SECONDS = 1.0  # one render; a letter takes milliseconds


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


def environment(allowed_globals: frozenset[str], undefined=StrictUndefined) -> _OfferEnvironment:
    """The sandbox on a budget, its globals reduced to `allowed_globals`."""
    env = _OfferEnvironment(undefined=undefined, autoescape=False, keep_trailing_newline=True)
    env.globals = {name: value for name, value in env.globals.items() if name in allowed_globals}
    env.filters = {
        name: _guard_filter(name, original, _FILTER_CHECKS.get(name, _generic_check)) for name, original in env.filters.items()
    }
    env.filters["budgeted_loop"] = _budgeted
    return env


def generate(template, variables: dict) -> str:
    """`template` rendered on a fresh budget, counting the output as it is generated."""
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
