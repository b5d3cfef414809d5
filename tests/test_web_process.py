"""The web worker process as gunicorn runs it (gunicorn.conf.py)."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path

from gunicorn.config import Config

ROOT = Path(__file__).resolve().parent.parent


def test_each_web_worker_freezes_its_loaded_heap_so_collections_stay_short():
    """A full garbage collection over a whole web process's heap paused random requests for
    120–150 ms at a million contacts; post_worker_init freezes the heap the app was loaded into."""
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    config = Config()
    config.set("post_worker_init", hooks["post_worker_init"])  # gunicorn's own check of the hook's signature
    kept = [[] for _ in range(1000)]  # stands in for the loaded app
    frozen_before = gc.get_freeze_count()
    try:
        config.post_worker_init(None)
        assert gc.get_freeze_count() >= frozen_before + len(kept)
        assert not any(obj is kept[0] for obj in gc.get_objects())  # a collection no longer walks it
    finally:
        gc.unfreeze()
