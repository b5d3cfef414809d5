"""Marketing's workspace, one blueprint (`bp` in pages.py) whose routes the package's modules add:

- `pages.py` — the readiness board, the yearly calendar, the offers of a year, the public catalog file;
- `editor.py` — the offer editor (its links by offer_links.py), the catalog upload, ready and draft;
- `preview.py` — the preview, the live preview of the editor's text, the test send.

The tags have a blueprint of their own (tags.py).
"""

from __future__ import annotations

from . import editor, preview  # noqa: F401 — each adds its routes to bp
from .pages import NAV, bp, late_offers

__all__ = ["NAV", "bp", "late_offers"]
