"""The docs as plain HTML, rendered on the server from the OpenAPI document: no script, nothing fetched."""

from __future__ import annotations

import re
from html import escape
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
SCHEMA_REF = "#/components/schemas/"
INLINE_MARKDOWN = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\[([^\]]+)\]\(([/#][\w/#.-]*)\)"), r"<a href='\2'>\1</a>"),
)
"""The Markdown the descriptions use: code, bold, and links within libdib (any other link stays text)."""


def render_offline_docs(openapi: dict[str, Any], assets: str) -> str:
    """Every operation (grouped by tag) with its parameters, body and responses, then every schema."""
    info = openapi.get("info", {})
    title = escape(str(info.get("title", "API")))
    operations = [
        (path, method, operation)
        for path, item in openapi.get("paths", {}).items()
        for method in METHODS
        if (operation := item.get(method)) is not None
    ]
    tags = [tag["name"] for tag in openapi.get("tags", [])]
    tags += sorted({tag for *_, op in operations for tag in op.get("tags", ["other"])} - set(tags))
    sections = []
    for tag in tags:
        tagged = [entry for entry in operations if tag in entry[2].get("tags", ["other"])]
        if tagged:
            sections.append(f"<h2 id='tag-{escape(tag)}'>{escape(tag)}</h2>" + "".join(_operation(*e) for e in tagged))
    schemas = openapi.get("components", {}).get("schemas", {})
    contents = "".join(f"<li><a href='#tag-{escape(tag)}'>{escape(tag)}</a></li>" for tag in tags)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: API docs (offline)</title>
<link rel="icon" type="image/svg+xml" href="{assets}/favicon.svg">
<link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
<main class="offline">
<header>
<h1>{title} {escape(str(info.get("version", "")))}: API docs</h1>
<p>The plain view of <a href="/schema/openapi.json">the OpenAPI document</a>, for when the
<a href="/schema">interactive docs</a> cannot load. Routes marked <em>token</em> need
<code>Authorization: Bearer &lt;access_token&gt;</code> from <code>POST /auth/login</code>.</p>
<p class="description">{_markdown(info.get("description", ""))}</p>
<nav><ul>{contents}<li><a href="#schemas">schemas</a></li></ul></nav>
</header>
{"".join(sections)}
<h2 id="schemas">Schemas</h2>
{"".join(_schema(name, schema) for name, schema in schemas.items())}
</main>
</body>
</html>
"""


def _operation(path: str, method: str, operation: dict[str, Any]) -> str:
    access = "open" if operation.get("security") == [{}] else "token"
    summary = escape(str(operation.get("summary", "")))
    description = _markdown(operation.get("description", ""))
    deprecated = "<span class='badge'>deprecated</span>" if operation.get("deprecated") else ""
    parts = [
        f"<section class='operation' id='{escape(str(operation.get('operationId', path)))}'>",
        f"<h3><span class='method {method}'>{method.upper()}</span> <code>{escape(path)}</code>"
        f"<span class='badge'>{access}</span>{deprecated}</h3>",
        f"<p><strong>{summary}</strong></p><p class='description'>{description}</p>",
    ]
    parameters = operation.get("parameters", [])
    if parameters:
        rows = "".join(
            f"<tr><td><code>{escape(str(p['name']))}</code></td><td>{escape(str(p.get('in', '')))}</td>"
            f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_type(p.get('schema', {}))}</td>"
            f"<td>{_markdown(p.get('description', ''))}</td></tr>"
            for p in parameters
        )
        parts.append(
            f"<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th><th>meaning</th></tr>{rows}</table>"
        )
    body = operation.get("requestBody")
    if body:
        kinds = ", ".join(f"<code>{escape(k)}</code> {_type(v.get('schema', {}))}" for k, v in body["content"].items())
        parts.append(f"<p>Body: {kinds}</p>")
    responses = "".join(
        f"<tr><td>{escape(code)}</td><td>{_markdown(r.get('description', ''))}</td>"
        f"<td>{', '.join(_type(m.get('schema', {})) for m in r.get('content', {}).values())}</td></tr>"
        for code, r in operation.get("responses", {}).items()
    )
    parts.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{responses}</table></section>")
    return "".join(parts)


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(field)}</code></td><td>{'yes' if field in required else 'no'}</td>"
        f"<td>{_type(spec)}</td><td>{_markdown(spec.get('description', ''))}</td></tr>"
        for field, spec in schema.get("properties", {}).items()
    )
    table = f"<table><tr><th>field</th><th>required</th><th>type</th><th>meaning</th></tr>{rows}</table>"
    description = _markdown(schema.get("description", ""))
    return (
        f"<section class='operation' id='schema-{escape(name)}'><h3>{escape(name)}</h3>"
        f"<p class='description'>{description}</p>{table if rows else _type(schema)}</section>"
    )


def _type(schema: dict[str, Any]) -> str:
    """A schema in a few words: a link for a reference, alternatives joined with ``|``, enums listed."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(SCHEMA_REF)
        return f"<a href='#schema-{escape(name)}'>{escape(name)}</a>"
    for combined in ("oneOf", "anyOf"):
        if combined in schema:
            return " | ".join(_type(option) for option in schema[combined])
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{escape(str(value))}</code>" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        items = schema.get("items") or {}
        return f"array of {_type(items)}" if items else "array"
    if isinstance(kind, list):
        return " | ".join(escape(str(k)) for k in kind)
    shown = escape(str(kind))
    if "format" in schema:
        shown += f" ({escape(str(schema['format']))})"
    return shown


def _markdown(text: object) -> str:
    """``text`` escaped, with its inline Markdown as HTML."""
    shown = escape(str(text), quote=False)
    for pattern, replacement in INLINE_MARKDOWN:
        shown = pattern.sub(replacement, shown)
    return shown
