"""Jinja's syntax errors said in Russian, for marketing: what is wrong and how to fix it.

Jinja words its errors for programmers («unexpected end of template, expected 'end of print
statement'»). `explain` turns the usual ones into a sentence about the braces marketing types;
anything else becomes a general hint rather than English.
"""

from __future__ import annotations

import re

__all__ = ["explain"]

_TOKENS = {
    "end of print statement": "«}}»",
    "end of statement block": "«%}»",
    "end of template": "конец текста",
    "name": "имя переменной",
    "integer": "число",
    "string": "текст в кавычках",
    "operator": "знак",
    ",": "«,»",
    ")": "«)»",
    "]": "«]»",
    "}": "«}»",
    ".": "«.»",
    "=": "«=»",
    ":": "«:»",
}
_BLOCKS = {"if": "{% if %}", "for": "{% for %}", "macro": "{% macro %}", "block": "{% block %}", "raw": "{% raw %}"}


def _token(name: str) -> str:
    return _TOKENS.get(name, f"«{name}»")


def explain(message: str) -> str:
    """A Russian sentence for Jinja's `message` (TemplateSyntaxError.message)."""
    text = " ".join((message or "").split())
    m = re.match(r"unexpected end of template, expected '([^']+)'", text, re.I)
    if m:
        if m.group(1) == "end of print statement":
            return "текст кончился, а вставка {{ … }} не закрыта: допишите «}}»."
        if m.group(1) == "end of statement block":
            return "текст кончился, а команда {% … %} не закрыта: допишите «%}»."
        return f"текст кончился раньше времени: ожидалось {_token(m.group(1))}."
    m = re.search(r"looking for the following tags: '([^']+)'.*?innermost block that needs to be closed is '([^']+)'", text, re.I)
    if m:
        ends = m.group(1).split("' or '")
        end = next((tag for tag in ends if tag.startswith("end")), ends[-1])
        return f"блок {_BLOCKS.get(m.group(2), '{% ' + m.group(2) + ' %}')} не закрыт: добавьте {{% {end} %}}."
    m = re.match(r"Encountered unknown tag '([^']+)'", text, re.I)
    if m:
        tag = m.group(1)
        if tag.startswith("end") or tag in ("else", "elif"):
            return f"лишняя команда {{% {tag} %}}: для неё нет открывающего блока (или блоки перепутаны)."
        return f"неизвестная команда {{% {tag} %}}: в письме можно использовать {{% if %}} и {{% for %}}."
    m = re.match(r"expected token '([^']+)', got '([^']*)'", text, re.I)
    if m:
        expected, got = m.groups()
        if expected == "end of print statement":
            return f"во вставке {{{{ … }}}} лишнее «{got}»: после имени переменной должно идти «}}}}»."
        if expected == "end of statement block":
            return f"в команде {{% … %}} лишнее «{got}»: ожидалось «%}}»."
        return f"ожидалось {_token(expected)}, а написано «{got}»."
    m = re.match(r"unexpected '([^']*)'", text, re.I)
    if m:
        got = m.group(1)
        if got in ("}", "}}"):
            return "лишняя «}»: вставка пишется в двойных фигурных скобках, {{ имя }}."
        if got in ("end of print statement",):
            return "пустая вставка {{ }}: напишите внутри имя переменной."
        return f"лишнее «{got}» в вставке или команде."
    m = re.match(r"unexpected char '(.)'", text, re.I)
    if m:
        return f"недопустимый знак «{m.group(1)}» внутри {{{{ … }}}} или {{% … %}}."
    if re.match(r"tag name expected", text, re.I):
        return "после «{%» должно идти имя команды: if, for, endif…"
    if re.match(r"expected an expression", text, re.I) or "expected name or number" in text.lower():
        return "во вставке или команде не хватает имени переменной или значения."
    if "missing endraw" in text.lower():
        return "блок {% raw %} не закрыт: добавьте {% endraw %}."
    return "вставка {{ … }} или команда {% … %} записана неверно: проверьте скобки и имена."
