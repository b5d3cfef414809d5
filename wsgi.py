"""The WSGI application for gunicorn: `gunicorn wsgi:app`."""
from campaigns import create_app

app = create_app()
