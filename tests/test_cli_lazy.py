"""Lazy sub-commands (issue 22): `oci-mcp --help` lists every command without importing any
command module or building any command's options, and prints byte for byte what Typer's eager
build of the same app prints. A command is imported and built when it is run, completed or its
own help is asked for — and then behaves exactly as the eager build's (compared here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from oci_mcp_cli.cli import app as cli

WIDTHS = ("100", "60")  # a wide terminal, and a narrow one that wraps the summaries


def invoke(typer_app: typer.Typer, *args: str, columns: str = "100") -> tuple[int, str, str]:
    result = CliRunner().invoke(typer_app, list(args), prog_name="oci-mcp",
                                env={"COLUMNS": columns})
    return result.exit_code, result.stdout, result.stderr


def command_paths(command: Any, ctx: Any, words: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of a click group, through the group protocol (list_commands and
    get_command), not `.commands`."""
    yield words
    if isinstance(command, typer.core.TyperGroup):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from command_paths(sub, ctx, (*words, name))


def eager_paths() -> list[tuple[str, ...]]:
    root = typer.main.get_command(cli.eager_app())
    return list(command_paths(root, typer.Context(root)))


def test_root_help_imports_no_command_module_and_builds_only_the_root() -> None:
    """The console script's own function (`main`), `--help`: which of our modules it imported,
    and whose parameters Typer read (`get_params_from_function`, once per command callback)."""
    code = (
        "import json, sys\n"
        "import typer.main\n"
        "read = []\n"
        "original = typer.main.get_params_from_function\n"
        "def counted(fn):\n"
        "    read.append(fn.__module__ + ':' + fn.__name__)\n"
        "    return original(fn)\n"
        "typer.main.get_params_from_function = counted\n"
        "from oci_mcp_cli.cli.app import main\n"
        "sys.argv = ['oci-mcp', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "ours = sorted(m for m in sys.modules if m.startswith('oci_mcp_cli.cli.'))\n"
        "print(json.dumps({'code': code, 'read': read, 'modules': ours}), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "100"})
    data = json.loads(result.stderr.strip().splitlines()[-1])
    assert data["code"] in (0, None), result.stderr
    assert "init" in result.stdout and "deploy" in result.stdout
    assert [m for m in data["modules"] if m.endswith("_cmd")] == []
    # the root callback and its options' callbacks (ours: --version; Typer's: the completion
    # options), nothing of any command
    ours = {name for name in data["read"] if not name.startswith("typer.")}
    assert ours == {"oci_mcp_cli.cli.app:root", "oci_mcp_cli.cli.app:_version"}, data["read"]


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("args", [("--help",), ("-h",), ()], ids=["--help", "-h", "no-args"])
def test_root_help_is_byte_identical_to_the_eager_build(args: tuple[str, ...], columns: str
                                                        ) -> None:
    lazy = invoke(cli.app, *args, columns=columns)
    assert lazy == invoke(cli.eager_app(), *args, columns=columns)
    assert "init" in lazy[1] + lazy[2]


def test_each_summary_is_its_commands_first_paragraph() -> None:
    """The table's summaries are copies of each command's help (so that listing needs no import):
    this names the one that drifted."""
    root = typer.main.get_command(cli.eager_app())
    ctx = typer.Context(root)
    assert [ref.name for ref in cli.COMMANDS] == root.list_commands(ctx)  # the listing's order
    for ref in cli.COMMANDS:
        command = root.get_command(ctx, ref.name)
        assert command is not None and command.help is not None, ref.name
        first = command.help.split("\n\n")[0].strip()
        assert ref.summary == first, f"COMMANDS[{ref.name!r}].summary drifted; help: {first!r}"


def test_the_lazy_group_reaches_every_command_of_the_eager_build() -> None:
    root = typer.main.get_command(cli.app)
    lazy = list(command_paths(root, typer.Context(root)))
    assert lazy == eager_paths()
    assert {("init",), ("trust", "create"), ("sandbox", "exec"), ("deploy", "compose")} <= set(lazy)


def test_every_commands_help_is_byte_identical_to_the_eager_build() -> None:
    eager = cli.eager_app()
    for path in eager_paths()[1:]:
        assert invoke(cli.app, *path, "--help") == invoke(eager, *path, "--help"), path


@pytest.mark.parametrize("args", [("inti",), ("trust", "craete"), ("--nope",), ("init", "--nope")])
def test_usage_errors_are_the_eager_builds(args: tuple[str, ...]) -> None:
    lazy = invoke(cli.app, *args)
    assert lazy == invoke(cli.eager_app(), *args)
    assert lazy[0] == 2 and "Traceback" not in lazy[2]


def test_unknown_command_names_the_closest() -> None:
    code, _, stderr = invoke(cli.app, "inti")
    assert code == 2
    assert "No such command 'inti'. Did you mean 'init'?" in " ".join(stderr.split())


def test_json_usage_error_of_a_lazily_built_command() -> None:
    """RootGroup's `--json` usage error (one JSON object on stdout) reaches a command that was
    built only when it was invoked."""
    code, stdout, stderr = invoke(cli.app, "trust", "list", "--json", "--no-such-flag")
    assert code == 2
    error = json.loads(stdout)["error"]
    assert error["type"] == "UsageError" and "--no-such-flag" in error["message"]
    assert error["hint"] == "see `oci-mcp trust list --help`"


def test_version_and_debug_at_the_root() -> None:
    from oci_mcp_cli import __version__

    assert invoke(cli.app, "--version") == (0, f"oci-mcp {__version__}\n", "")
    code, stdout, _ = invoke(cli.app, "--debug", "client-config", "--help")
    assert code == 0 and "--for" in stdout


def complete(words: str, cword: int) -> list[str]:
    """Bash completion from the real entry point (the console script's protocol)."""
    env = {**os.environ, "_OCI_MCP_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(cword)}
    result = subprocess.run([sys.executable, "-m", "oci_mcp_cli"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_shell_completion_of_commands_subcommands_and_options() -> None:
    assert complete("oci-mcp tr", 1) == ["trust"]
    assert complete("oci-mcp trust cr", 2) == ["create"]
    assert complete("oci-mcp init --dry", 2) == ["--dry-run"]
    assert complete("oci-mcp deploy kubernetes --ot", 3) == ["--otel-endpoint"]


def test_importtime_shows_the_command_module_it_builds() -> None:
    """`python -X importtime` (how start-up is profiled here: docs/benchmarks.md) logs a command's
    module when it is built lazily too — importlib.import_module's path would not be logged."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "oci_mcp_cli", "serve",
                             "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "oci_mcp_cli.cli.serve_cmd" in imported
    assert [m for m in imported if m.endswith("_cmd")] == ["oci_mcp_cli.cli.serve_cmd"]
