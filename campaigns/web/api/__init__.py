"""JSON API, with the web pages' rules: the same visibility (404 for a stranger's contact), the
same domain functions, errors as RFC 9457 problem documents (`application/problem+json`, a
Russian `detail`, and `errors` {field: message} for a field-by-field check).

Who is asking:
- an API key: `Authorization: Bearer ck_…` (apikeys.py) — acts with its user's role; no CSRF
  (nothing a browser sends on its own); a rate limit per key (429 with Retry-After);
- or the web log-in cookie, with the CSRF token in the X-CSRFToken header on writes.

Request bodies are checked against pydantic models first: the shape and the JSON types (a
name is a string, tags a list of names or ids, a flag true or false — nothing is coerced), so
a wrong type is a 400 naming the field and nothing is written. What the values may be
(lengths, e-mail, phone, dates, known tags) stays with the domain (contacts.clean_fields,
tag and offer rules). The same models describe the API in /api/openapi.json (openapi.py, spectree).

Lists go page by page: `next_cursor` (signed, opaque) comes back as `?cursor=`; a cursor that
was tampered with, or taken from a list with other filters, is a 400.

Every rule is the domain's: who sees a contact is contacts.visible_contacts /
get_visible_contact, a call is calls.log_call, unsubscribing is consent.*, offers go through
offers.offer_for / mark_ready, template_sandbox.check_template, offer_lint.lint_offer, imports
through the very functions the import page uses (web/imports.begin_upload / begin_commit).

- `base.py` — the blueprint `bp`, authentication, problem errors, bodies, output, cursors;
- `contacts.py` — contacts, notes and calls, consent;
- `tags.py` — tags (written through tags.save_tag, as the tags page);
- `catalog.py` — offers, their links and catalog file;
- `mail.py` — deliveries, human clicks, the hot list, results;
- `lists.py` — the stop list and imports.
"""

from __future__ import annotations

from . import catalog, contacts, lists, mail, tags  # noqa: F401 — each adds its routes to bp
from .base import bp

__all__ = ["bp"]
