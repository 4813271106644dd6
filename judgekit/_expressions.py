"""Rubric scoring expressions: Jinja expressions in the sandbox, with a fast path for plain ones.

Expressions run for every verdict, and the sandbox costs about 11 us a call. Most are plain
arithmetic, comparisons and conditionals over the reply's fields (`score >= 5`,
`1 if exhibits else 0`), where Jinja and Python agree: those are compiled as Python (0.2 us a
call) after checking that every node of the syntax tree is in that subset. Anything else (filters,
tests, attribute access, calls, subscripts, `~`) goes to the sandbox, unchanged.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_SANDBOX = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
_LITERALS = {"true": True, "false": False, "none": None}
# Nodes whose meaning is the same in a Jinja expression and in Python. No Pow (no 10 ** 10 ** 10),
# no Subscript (a missing key is Undefined in Jinja and KeyError in Python), no Is (Jinja tests).
_PLAIN = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
)
_NO_BUILTINS: dict[str, Any] = {"__builtins__": {}}


@cache
def compile_expression(expression: str) -> Callable[..., Any]:
    """A function of the fields (keyword arguments) that evaluates `expression`.

    An unknown name raises jinja2's UndefinedError on either path.
    """
    code = _plain_code(expression.strip())
    if code is None:
        return _SANDBOX.compile_expression(expression, undefined_to_none=False)
    names = code.co_names

    def evaluate(**variables: Any) -> Any:
        for name in names:
            if name not in variables:
                raise UndefinedError(f"'{name}' is undefined")
        return eval(code, _NO_BUILTINS, variables)  # a checked subset: no calls, attributes or builtins

    return evaluate


def _plain_code(expression: str) -> Any:
    """`expression` compiled as Python if it is in the plain subset, else None."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, _PLAIN):
            return None
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | None):
            return None
    tree = ast.fix_missing_locations(_Literals().visit(tree))
    return compile(tree, "<scoring expression>", "eval")


class _Literals(ast.NodeTransformer):
    """Jinja's `true`, `false` and `none` as constants (Python parses `True` and co. as constants already)."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _LITERALS:
            return ast.copy_location(ast.Constant(_LITERALS[node.id]), node)
        return node
