"""The suite's own rule: every test states, in a docstring, the property it proves."""

from __future__ import annotations

import ast

from helpers import REPO


def test_every_test_says_what_it_proves() -> None:
    """A test without a one-line docstring of its property fails here, naming it."""
    missing = [
        f"{path.name}::{node.name}"
        for path in sorted((REPO / "tests").rglob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
        and not ast.get_docstring(node)
    ]
    assert missing == []
