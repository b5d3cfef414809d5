"""Blueprints. Views parse input, call one function of a domain module, render.

BLUEPRINTS below is the whole web app: every module listed registers its `bp` (in this
order), and its optional `NAV` list of (endpoint, label, roles, weight) adds entries to the
top navigation. A module that defines a blueprint but is not listed is never served
(tests/test_layout.py says so).
"""

from __future__ import annotations

from flask import Flask

from . import (
    admin,
    api,
    auth,
    bulk,
    contacts,
    errors,
    filters,
    handover,
    health,
    home,
    hot,
    imports,
    keys,
    mailbox,
    offers,
    openapi,
    params,
    people,
    privacy,
    queue,
    results,
    security,
    tags,
    track,
    webhooks_admin,
)

BLUEPRINTS = (
    admin,
    api,
    auth,
    bulk,
    contacts,
    errors,
    handover,
    health,
    home,
    hot,
    imports,
    keys,
    mailbox,
    offers,
    openapi,
    people,
    privacy,
    queue,
    results,
    security,
    tags,
    track,
    webhooks_admin,
)


def register(app: Flask) -> None:
    # Before any rule is added: every <int:…> in a URL is bounded like a database id.
    app.url_map.converters["int"] = params.RecordIdConverter
    app.before_request(params.screen_request)
    nav: list[tuple] = []
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
        nav.extend(getattr(module, "NAV", []))
    # Order by the optional weight (4th item), then as declared.
    nav.sort(key=lambda item: item[3] if len(item) > 3 else 50)
    auth.install_user_loader()
    filters.install(app)

    def nav_items():
        return nav

    app.jinja_env.globals["nav_items"] = nav_items
