"""The WSGI application for gunicorn: `gunicorn wsgi:app`.

/c/<token> is answered by web/track.py's ClickRedirect before Flask; create_app mounts it.
"""
from campaigns import create_app

app = create_app()
