"""The click benchmark's ceiling: the smallest Flask app that answers /c/<token> with the same 302.

gunicorn --chdir bench minimal_redirect:app
"""

from flask import Flask, Response

app = Flask(__name__)
LOCATION = "https://gifts.example.com/catalog?utm_source=mail"


@app.route("/c/<path:token>")
def click(token: str):
    return Response(status=302, headers={"Location": LOCATION, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
