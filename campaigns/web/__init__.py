"""Blueprints. Views parse input, call one function of a domain module, render."""
from __future__ import annotations

from flask import Flask

# The top navigation: (endpoint, label, roles that see it). Blueprints add their pages here.
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("home.index", "Главная", ("advisor", "marketing", "admin")),
]


def register(app: Flask) -> None:
    from . import auth, filters, health, home

    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    auth.install_user_loader()
    filters.install(app)

    def nav_items():
        return [item for item in NAV if item[0] in app.view_functions]

    app.jinja_env.globals["nav_items"] = nav_items
