"""The WSGI application for gunicorn: `gunicorn wsgi:app`.

/c/<token> is answered by web/track.py's ClickRedirect before Flask; create_app mounts it.
"""

from campaigns import create_app
from campaigns.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # one line naming the variable, not a traceback (gunicorn and `flask --app wsgi`)
    raise SystemExit(f"error: {exc}") from None
