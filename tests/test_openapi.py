"""The API's description (#19): OpenAPI 3.1 generated from the models that validate, valid by
openapi-spec-validator, and a documentation page whose assets are served from here."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_the_description_is_valid_openapi_3_1(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/api/contacts"])
    assert document["components"]["securitySchemes"]["apiKey"] == {"type": "http", "scheme": "bearer"}


def test_the_documented_body_is_the_one_that_validates(client):
    from campaigns.web.api.contacts import ContactFields

    document = client.get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/contacts/{contact_id}"]["patch"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["schemas"][ref]["properties"]) == set(ContactFields.model_fields)
    assert document["components"]["schemas"][ref].get("additionalProperties") is False


def test_the_docs_page_loads_only_local_assets(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="/static/vendor/redoc/redoc.standalone.js"' in html and "http" not in html.split("<body>")[1]
    assert "<script>" not in html  # the CSP forbids inline script
    assert client.get("/static/vendor/redoc/redoc.standalone.js").status_code == 200


def test_every_api_route_is_described(app, client):
    """A new /api endpoint without spec.validate would be missing from the description: refuse that."""
    document = client.get("/api/openapi.json").get_json()
    described = {(path, method) for path, operations in document["paths"].items() for method in operations}
    undocumented = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = str(rule).replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method.lower()) not in described:
                undocumented.append(f"{method} {rule}")
    assert undocumented == []
    assert len(described) >= 20
