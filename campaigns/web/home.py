"""The start page: each role lands where its work is."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..db import db
from ..models import Contact, Role

bp = Blueprint("home", __name__)
NAV = [("home.index", "Главная", ("advisor", "marketing", "admin"), 0)]


@bp.get("/")
@login_required
def index():
    query = select(func.count(Contact.id)).where(Contact.archived_at.is_(None))
    if current_user.role == Role.ADVISOR:
        query = query.where(Contact.owner_id == current_user.id)
    return render_template("home/index.html", contact_count=db.session.scalar(query))
