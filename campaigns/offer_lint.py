"""The offer lint: everything that stops an offer from going out, in Russian for marketing."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .template_sandbox import (
    MAX_SUBJECT_LENGTH,
    RAW_URL,
    Analysis,
    OfferTemplateError,
    analyse,
    render_offer,
    sample_variables,
    unknown_message,
    unknown_variables,
)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable http(s) link, or None. Syntax only: there is no network here."""
    url = (url or "").strip()
    if not url:
        return "адрес ссылки пуст"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "в адресе есть пробелы или управляющие символы"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket: «http://[::1»
        return "неверное имя сайта"
    if parts.scheme.lower() not in ("http", "https"):
        return "адрес должен начинаться с http:// или https://"
    try:
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError on a bad port
    except ValueError:
        return "неверный номер порта"
    if not host:
        return "в адресе нет имени сайта"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"неверное имя сайта «{host}»"
    labels = ascii_host.rstrip(".").split(".")
    if (
        host not in ("localhost",)
        and not re.fullmatch(r"[0-9.]+|\[?[0-9a-f:]+\]?", host)
        and (len(labels) < 2 or not all(re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels))
    ):
        return f"неверное имя сайта «{host}»"
    return None


def _template_problems(source: str, what: str, link_names: list[str]) -> tuple[list[str], Analysis | None]:
    try:
        analysis = analyse(source)
    except OfferTemplateError as exc:
        return [f"{what}: {exc}"], None
    unknown = unknown_variables(analysis, link_names)
    return ([f"{what}: {unknown_message(unknown)}"] if unknown else []), analysis


def lint_offer(offer) -> list[str]:
    """Everything that stops ``offer`` from going out, in Russian; empty = it may become ready."""
    problems: list[str] = []
    # Trap links are the tracker's hidden ones: not marketing's to write, never in the text.
    links = [link for link in getattr(offer, "links", []) or [] if not getattr(link, "is_trap", False)]
    link_names = [link.name for link in links]
    subject, body = offer.subject or "", offer.body or ""

    if not subject.strip():
        problems.append("Тема письма пуста.")
    if not body.strip():
        problems.append("Текст письма пуст: в письме не будет текстовой части.")

    subject_problems, subject_analysis = _template_problems(subject, "Тема", link_names)
    body_problems, body_analysis = _template_problems(body, "Текст", link_names)
    problems += subject_problems + body_problems

    # No demand for {{ unsubscribe_url }}: without it the mail gets the footer with the link by itself
    # (templates/emails/offer.*); with it, the offer's own line replaces the footer.
    if body_analysis is not None and "catalog" in body_analysis.names and not getattr(offer, "catalog_path", None):
        problems.append("В тексте есть {{ catalog }}, но файл каталога не загружен.")

    for analysis, what in ((subject_analysis, "Тема"), (body_analysis, "Текст")):
        if analysis is None:
            continue
        for raw in dict.fromkeys(RAW_URL.findall(analysis.text)):
            problems.append(
                f"{what}: ссылка «{raw}» вписана прямо в текст — переходы по ней не отслеживаются. "
                "Добавьте её в список ссылок и вставьте {{ links.имя }}."
            )

    for link in links:
        why = url_problem(link.url)
        if why:
            problems.append(f"Ссылка «{link.name}»: {why}.")

    if not problems:
        # The last word: it must actually render for a typical recipient.
        try:
            rendered_subject, rendered_body = render_offer(offer, sample_variables(offer))
        except OfferTemplateError as exc:
            problems.append(str(exc))
        else:
            if len(rendered_subject) > MAX_SUBJECT_LENGTH:
                problems.append(
                    f"Тема длиннее {MAX_SUBJECT_LENGTH} знаков ({len(rendered_subject)}): почтовые программы её обрежут."
                )
            if not rendered_body.strip():
                problems.append("Текст письма пуст: в письме не будет текстовой части.")
    elif len(subject) > MAX_SUBJECT_LENGTH and "{" not in subject:
        problems.append(f"Тема длиннее {MAX_SUBJECT_LENGTH} знаков ({len(subject)}): почтовые программы её обрежут.")
    return problems
