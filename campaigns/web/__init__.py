"""Blueprints. Views parse input, call one function of a domain module, render.

Every module in this package that defines `bp` (a Blueprint) is registered, and its
optional `NAV` list of (endpoint, label, roles) adds entries to the top navigation.
"""
from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

# The top navigation: (endpoint, label, roles that see it), in this order.
NAV: list[tuple[str, str, tuple[str, ...]]] = []


def register(app: Flask) -> None:
    from . import auth, filters, params

    # Before any rule is added: every <int:…> in a URL is bounded like a database id.
    app.url_map.converters["int"] = params.RecordIdConverter
    app.before_request(params.screen_request)
    nav: list[tuple[str, str, tuple[str, ...]]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "bp"):
            app.register_blueprint(module.bp)
            nav.extend(getattr(module, "NAV", []))
    # Order by the optional weight (4th item), then as declared.
    nav.sort(key=lambda item: item[3] if len(item) > 3 else 50)
    auth.install_user_loader()
    filters.install(app)

    def nav_items():
        return nav

    app.jinja_env.globals["nav_items"] = nav_items
