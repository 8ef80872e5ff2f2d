"""Render client templates: JSON filled structurally (no escaping bugs), commands shell-quoted."""

from __future__ import annotations

import json
import shlex
from string import Template
from typing import Any

from oci_mcp_cli.clientconfig.clients import ClientSpec
from oci_mcp_cli.core.templates import read_template


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return Template(value).substitute(values)
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {_fill(k, values): _fill(v, values) for k, v in value.items()}
    return value


def render_json(template: str, *, name: str, url: str) -> dict[str, Any]:
    """The JSON template ``template`` with ``${name}``/``${url}`` filled in."""
    return _fill(json.loads(read_template(template)), {"name": name, "url": url})


def render_command(template: str, *, name: str, url: str) -> str:
    """The command-line template ``template`` with shell-quoted values."""
    text = read_template(template).strip()
    return Template(text).substitute(name=shlex.quote(name), url=shlex.quote(url))


def render_snippet(spec: ClientSpec, *, name: str, url: str) -> str:
    """What `client-config --for …` prints for ``spec``."""
    if spec.is_command:
        return render_command(spec.snippet, name=name, url=url)
    return json.dumps(render_json(spec.snippet, name=name, url=url), indent=2)
