"""Start-up stays light: `--help` imports nothing heavy (its timing: bench/bench_help.py)."""

import json
import subprocess
import sys

import typer

# Not pydantic: Typer itself validates option values with it as soon as it parses one.
HEAVY = (
    "oci", "fastmcp", "mcp", "uvicorn", "starlette", "httpx", "httpcore", "cryptography",
    "questionary", "prompt_toolkit", "dotenv", "redis", "key_value", "anyio",
    "oci_mcp_cli.server", "oci_mcp_cli.provisioning", "oci_mcp_cli.sandbox", "oci_mcp_cli.client",
    "oci_mcp_cli.oracle", "oci_mcp_cli.doctor", "oci_mcp_cli.deploy", "oci_mcp_cli.testing",
    "prometheus_client", "oci_mcp_cli.observe",
)


def heavy_in(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_every_help_builds_without_heavy_imports() -> None:
    """Build the app and print the help of every command and sub-command in one process."""
    code = (
        "import json, sys\n"
        "import typer.main\n"
        "from typer.testing import CliRunner\n"
        "from oci_mcp_cli.cli.app import app\n"
        "def walk(command, words):\n"  # the group protocol: the root builds commands lazily
        "    yield words\n"
        "    if isinstance(command, typer.core.TyperGroup):\n"
        "        ctx = typer.Context(command)\n"
        "        for name in command.list_commands(ctx):\n"
        "            yield from walk(command.get_command(ctx, name), [*words, name])\n"
        "runner = CliRunner()\n"
        "codes = {' '.join(w) or '-': runner.invoke(app, [*w, '--help']).exit_code\n"
        "         for w in walk(typer.main.get_command(app), [])}\n"
        "print(json.dumps({'codes': codes, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"-", "init", "trust create", "sandbox exec", "deploy compose"} <= set(data["codes"])
    assert set(data["codes"].values()) == {0}, data["codes"]
    assert heavy_in(data["modules"]) == []


def test_python_dash_m_help_imports_nothing_heavy() -> None:
    """The real entry point, as a user runs it: every module it imports, from -X importtime."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oci_mcp_cli", "--help"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "oci_mcp_cli.cli.app" in imported
    assert heavy_in(imported) == []


def test_command_annotations_are_objects_not_strings() -> None:
    """Typer reads each option from its annotation; a string annotation (`from __future__ import
    annotations`) is compiled again at every start-up, for every option of every command."""
    from oci_mcp_cli.cli.app import eager_app

    def callbacks(typer_app: typer.Typer):  # type: ignore[no-untyped-def]
        if typer_app.registered_callback is not None:
            yield typer_app.registered_callback.callback
        for command in typer_app.registered_commands:
            yield command.callback
        for group in typer_app.registered_groups:
            yield from callbacks(group.typer_instance)

    found = [fn for fn in callbacks(eager_app()) if fn is not None]
    assert len(found) >= 15
    for fn in found:
        strings = [name for name, value in fn.__annotations__.items() if isinstance(value, str)]
        assert strings == [], (fn.__module__, fn.__name__, strings)


def test_serve_cache_size_default_is_the_servers() -> None:
    """`serve` writes the default out (importing the server would slow `--help`)."""
    from oci_mcp_cli.cli.serve_cmd import DEFAULT_CACHE_SIZE
    from oci_mcp_cli.server.signers import DEFAULT_CACHE_SIZE as SERVER_DEFAULT

    assert DEFAULT_CACHE_SIZE == SERVER_DEFAULT
