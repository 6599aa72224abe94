"""The OpenAPI schema validates and names every endpoint; its documentation page is served
from local files under the site's Content-Security-Policy."""

from __future__ import annotations

import io
import re

import jsonschema
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from tests.api.test_access_walk import api_patterns, url_for
from tests.helpers.api import api_client


def test_the_schema_validates_without_warnings_and_lists_every_endpoint(world):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    paths = set(schema["paths"])
    # drf-spectacular names a primary key {id}
    routes = {re.sub(r"<int:(\w+)>", r"{\1}", "/" + route).replace("{pk}", "{id}")
              for _, route, _ in api_patterns()}  # fmt: skip
    assert routes <= paths
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_schema_is_served_to_a_token_and_to_a_signed_in_user_but_not_to_strangers(world):
    assert api_client(world["tokens"]["vera"]).get(reverse("api-schema")).status_code == 200
    page = api_client()
    assert page.get(reverse("api-schema")).status_code == 401
    page.force_login(world["users"]["victor"])
    assert page.get(reverse("api-schema")).status_code == 200


def test_the_docs_page_loads_only_local_files_and_no_inline_code(world):
    page = api_client()
    page.force_login(world["users"]["vera"])
    response = page.get(reverse("api-docs"))
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = response.content.decode()
    assert "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") for s in sources)
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source
    script = next(s for s in sources if "script=" in s)
    response = page.get(script.replace("&amp;", "&"))
    assert response.status_code == 200 and response["Content-Type"].startswith(
        "application/javascript"
    )
    assert b"SwaggerUIBundle" in response.content


def json_schema(node, components: dict):
    """An OpenAPI 3.0 schema as JSON Schema: references resolved, `nullable` as a null type."""
    if isinstance(node, list):
        return [json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def test_every_json_answer_matches_its_schema(world):
    out = io.StringIO()
    call_command("spectacular", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    components = schema["components"]["schemas"]
    client = api_client(world["tokens"]["alice"])
    checked = 0
    for name, route, view_class in api_patterns():
        if not hasattr(view_class, "get"):
            continue
        response = client.get(url_for(name, route, world["ids"]))
        if response.get("Content-Type") != "application/json":
            continue  # downloads
        path = re.sub(r"<int:(\w+)>", r"{\1}", "/" + route).replace("{pk}", "{id}")
        answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        jsonschema.validate(response.json(), json_schema(answer["schema"], components))
        checked += 1
    assert checked >= 12
