"""The Typer command-line interface: thin commands (parse → service call → render)."""
