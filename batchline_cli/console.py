"""What every command shares: exit codes, where it points (Google Cloud or the local cloud),
and how it prints (rich tables on a terminal, wide ones when piped)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_USAGE",
    "EXIT_VALID",
    "LOCAL_TARGET",
    "console",
    "print_table",
    "use_target",
]

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
EXIT_FAILED = 1  # a command that ran but whose outcome is a failure
LOCAL_TARGET = "the local cloud"


def console() -> Any:
    from rich.console import Console

    out = Console()
    if not out.is_terminal:  # piped or logged: do not squeeze tables into 80 columns
        out = Console(width=160)
    return out


def use_target() -> str:
    """Point the clients at the local cloud unless a Google Cloud project is configured."""
    if os.environ.get("GOOGLE_CLOUD_PROJECT"):
        return f"project {os.environ['GOOGLE_CLOUD_PROJECT']}"
    try:
        from localcloud import stack
    except ImportError as exc:
        raise SystemExit(
            "set GOOGLE_CLOUD_PROJECT and the BATCHLINE_* variables (see README), "
            "or run from a clone with the local cloud"
        ) from exc
    try:
        os.environ.update(stack.environment())
    except stack.StackError as exc:
        raise SystemExit(f"batchline: {exc}; or set GOOGLE_CLOUD_PROJECT for Google Cloud") from exc
    return LOCAL_TARGET


def print_table(out: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    out.print(table)
