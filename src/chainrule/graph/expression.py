"""Arithmetic text to a computational graph: ``"(x + y) ** 2"`` -> ``+`` -> ``**2``.

:func:`parse` reads the text with Python's own parser (:func:`ast.parse`) and keeps
only a whitelist; nothing is ever evaluated or compiled to code. Allowed:

- numbers (``2``, ``0.5``, ``1e-3``), the constants ``pi`` (π) and ``e`` (Euler's number,
  2.718...; an exponent is written as a number), and names (the inputs: ``x``,
  ``apple_num``; ``pi`` and ``e`` are never inputs);
- ``+ - * /`` and ``**`` with a number as exponent (``x ** 2``, ``x ** -0.5``, at most
  :data:`MAX_EXPONENT` in size), unary ``-`` and ``+``, parentheses;
- the one-argument functions ``exp``, ``log``, ``sigmoid``, ``relu``, ``tanh``.

Anything else (attribute access, indexing, other calls, keywords, strings,
comparisons, lambdas, comments, text over :data:`MAX_LENGTH` characters, more than
:data:`MAX_OPERATIONS` operations, nesting deeper than :data:`MAX_DEPTH`) raises
:class:`ExpressionError`, which names the offending part and where it is.

:func:`build` (what ``Graph.from_expression`` calls) records one node layer per operation:
``+`` AddLayer, ``-`` SubLayer (unary: NegLayer), ``*`` MulLayer, ``/`` DivLayer (the
book's one-input "/" ReciprocalLayer when the numerator is the number 1), ``** n``
PowLayer(n), and ExpLayer, LogLayer, SigmoidNode, ReluNode, TanhNode. A name used
twice is one input; every number is its own constant (``-2`` is the constant -2, not
a negation). It computes in float64 with IEEE arithmetic, so ``log(0)`` is ``-inf``
and ``0 / 0`` is ``nan``: such results are values, drawn as they are, not errors.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.core.messages import Catalog, Coded
from chainrule.core.operations import (
    AddLayer,
    DivLayer,
    ExpLayer,
    LogLayer,
    MulLayer,
    NegLayer,
    PowLayer,
    ReciprocalLayer,
    ReluNode,
    SigmoidNode,
    SubLayer,
    TanhNode,
)

MAX_LENGTH = 1000  # characters
MAX_OPERATIONS = 300  # nodes of the graph
MAX_DEPTH = 100  # operations nested in one another
MAX_EXPONENT = 100  # |n| of x ** n

CONSTANTS = {"pi": math.pi, "e": math.e}
"""Names that are numbers, not inputs: ``2 * pi * x`` has one input, ``x``."""
FUNCTIONS = {"exp": ExpLayer, "log": LogLayer, "sigmoid": SigmoidNode, "relu": ReluNode,
             "tanh": TanhNode}
BINARY = {ast.Add: ("+", AddLayer), ast.Sub: ("-", SubLayer), ast.Mult: ("*", MulLayer),
          ast.Div: ("/", DivLayer)}
_OTHER_OPERATORS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
                    ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
                    ast.Not: "not", ast.Invert: "~"}
_WHAT = {  # the refused parts of Python: (code, how messages call them)
    ast.Subscript: ("indexing", "indexing"), ast.Compare: ("comparison", "a comparison"),
    ast.BoolOp: ("and_or", "and/or"), ast.IfExp: ("if_else", "if-else"),
    ast.Lambda: ("lambda", "lambda"), ast.Tuple: ("comma", "a comma"),
    ast.List: ("list", "a list"), ast.Dict: ("dict", "a dict"), ast.Set: ("set", "a set"),
    ast.JoinedStr: ("fstring", "an f-string"), ast.FormattedValue: ("fstring", "an f-string"),
    ast.NamedExpr: ("assignment", "an assignment (:=)"), ast.Starred: ("star", "*"),
    ast.Slice: ("slice", "a slice"), ast.ListComp: ("comprehension", "a comprehension"),
    ast.SetComp: ("comprehension", "a comprehension"),
    ast.DictComp: ("comprehension", "a comprehension"),
    ast.GeneratorExp: ("generator", "a generator"), ast.Await: ("await", "await"),
    ast.Yield: ("yield", "yield"), ast.YieldFrom: ("yield", "yield"),
}
ALLOWED = "allowed: numbers, names, + - * / **, exp log sigmoid relu tanh"
MESSAGES = Catalog("expr", {
    # what ExpressionError says (its reason; the position is added after it)
    "expr.not_text": "an expression is text, not {kind}",
    "expr.too_long": "the expression is too long ({length} characters; at most {max})",
    "expr.comment": "comments (#) are not allowed",
    "expr.character": "the character {char!r} is not allowed",
    "expr.bad_number": "{part!r} is not a number (write numbers such as 2, 0.5 or 1e-3, "
                       "with a space before a name)",
    "expr.empty": f"the expression is empty: write for example (x + y) ** 2 ({ALLOWED})",
    "expr.incomplete": "the expression is incomplete: something is missing at its end",
    "expr.invalid_syntax": "invalid syntax",
    "expr.never_closed": "{bracket!r} was never closed",
    "expr.unmatched": "unmatched {bracket!r}",
    "expr.unterminated_string": "unterminated string literal",
    "expr.indent": "unexpected indent",
    "expr.syntax": "{reason}",  # another of Python's own messages, as it says it
    "expr.nested": "nested too deeply",
    "expr.nested_max": "nested too deeply (more than {max} levels)",
    "expr.computes_nothing": "the expression computes nothing: write an operation, for "
                             "example x * 2",
    "expr.operator": f"the operator {{symbol}} is not allowed ({ALLOWED})",
    "expr.attribute": "attribute access (.) is not allowed",
    **{f"expr.no_{code}": f"{what} is not allowed ({ALLOWED})" for code, what in _WHAT.values()},
    "expr.not_allowed": f"{{what}} is not allowed ({ALLOWED})",  # a part of Python not above
    "expr.call_only": "only {functions} can be called",
    "expr.call": "calling {name} is not allowed: the functions are {functions}",
    "expr.keywords": "{name}() takes no keyword arguments",
    "expr.one_argument": "{name}() takes exactly one argument",
    "expr.function_name": "{name} is a function: write {name}(...)",
    "expr.too_many": "too many operations (more than {max})",
    "expr.text_value": f"text is not a number ({ALLOWED})",
    "expr.constant": f"{{value}} is not a number ({ALLOWED})",
    "expr.number_too_large": "the number is too large",
    "expr.exponent_not_number": "the exponent of ** must be a number, such as 2 or -0.5",
    "expr.exponent_too_large": "the exponent is too large (at most {max} in size)",
    # what InputError says
    "expr.input_not_real": "input {name!r} must be a real number, got {got}",
    "expr.input_not_finite": "input {name!r} must be a finite number, got {got}",
    "expr.input_missing": "the expression uses {name!r}: give it a value ({name}=...)",
    "expr.input_unused": "input {name!r} is not used by the expression (it uses {used})",
    "expr.input_unused_none": "input {name!r} is not used by the expression (it uses no "
                              "names)",
})
"""The English of every refusal, by code (see :mod:`chainrule.core.messages`)."""
_SYNTAX = {"invalid syntax": "expr.invalid_syntax", "unexpected indent": "expr.indent",
           "unterminated string literal": "expr.unterminated_string"}
_NUMBER = re.compile(r"(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d[\d_]*)?")
_NUMBER_LIKE = re.compile(r"(?<![\w.])(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d[\d_]*)?[\w.]*")


class InputError(Coded, ValueError):
    """A missing, unknown or bad input value; ``name`` is the input. ``code`` and
    ``params`` say it as data where the message has a code (:data:`MESSAGES`)."""

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.name = name

    @classmethod
    def said(cls, code: str, name: str, **params: Any) -> InputError:
        """The error ``code`` of :data:`MESSAGES` about input ``name``."""
        return cls(MESSAGES.say(code, name=name, **params), name).coded(code, name=name,
                                                                        **params)


class ExpressionError(Coded, ValueError):
    """An expression that is not allowed or not understood, with where it is.

    ``offset`` and ``end_offset`` index the characters of ``text`` (0-based, end
    excluded); ``line`` and ``column`` are 1-based; ``part`` is the offending text and
    ``reason`` the message without the position. ``code`` and ``params`` are the reason
    as data (:data:`MESSAGES`), for a page that words it in another language.
    """

    def __init__(self, reason: str, text: str, offset: int, end_offset: int | None = None):
        offset = max(0, min(offset, len(text)))
        end = max(offset, min(end_offset if end_offset is not None else offset + 1, len(text)))
        self.reason, self.text, self.offset, self.end_offset = reason, text, offset, end
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        self.part = text[offset:end]
        where = f"line {self.line}, column {self.column}" if "\n" in text else \
            f"column {self.column}"
        shown = self.part if len(self.part) <= 40 else self.part[:37] + "..."
        super().__init__(f"{reason} (at {where}: {shown!r})" if shown else f"{reason} (at {where})")

    @classmethod
    def said(cls, code: str, text: str, offset: int, end_offset: int | None = None,
             **params: Any) -> ExpressionError:
        """The refusal ``code`` of :data:`MESSAGES` at ``text[offset:end_offset]``."""
        return cls(MESSAGES.say(code, **params), text, offset, end_offset).coded(code, **params)


@dataclass(frozen=True)
class Op:
    """One node of a parsed expression: ``kind`` is ``"number"`` or ``"name"``
    (``value`` the number or the name), ``"neg"``, one of ``+ - * /``, ``"**"``
    (``value`` the exponent) or a function name; ``offset``/``end`` locate it in the
    text. Unary plus leaves no node."""

    kind: str
    args: tuple[Op, ...] = ()
    value: Any = None
    offset: int = 0
    end: int = 0


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its tree and its input names (in order)."""

    text: str
    root: Op
    names: tuple[str, ...]
    operations: int


class _Positions:
    """Character offsets of ``ast`` positions (which count UTF-8 bytes)."""

    def __init__(self, text: str, shift: int):
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.shift = shift

    def at(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        chars = len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return self.shift + self.starts[lineno - 1] + chars

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.at(node.lineno, node.col_offset),
                self.at(node.end_lineno, node.end_col_offset))


def parse(text: str) -> Expression:
    """Check ``text`` against the whitelist and return its :class:`Expression`."""
    if not isinstance(text, str):
        raise ExpressionError.said("expr.not_text", "", 0, kind=type(text).__name__)
    if len(text) > MAX_LENGTH:
        raise ExpressionError.said("expr.too_long", text, MAX_LENGTH, len(text),
                                   length=len(text), max=MAX_LENGTH)
    for i, ch in enumerate(text):
        if ch == "#":
            raise ExpressionError.said("expr.comment", text, i)
        if ch == "\\" or not (ch.isprintable() or ch in "\n\t\r"):
            raise ExpressionError.said("expr.character", text, i, char=ch)
    # Python's tokenizer warns about "1if" and "\o": refuse them before it sees them
    for m in _NUMBER_LIKE.finditer(text):
        if not _NUMBER.fullmatch(m.group()):
            raise ExpressionError.said("expr.bad_number", text, m.start(), m.end(),
                                       part=m.group())
    body = text.lstrip()
    if not body.strip():
        raise ExpressionError.said("expr.empty", text, 0, len(text))
    shift = len(text) - len(body)
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        if not exc.offset:  # the parser ran out of text
            end = len(text.rstrip())
            raise ExpressionError.said("expr.incomplete", text, end - 1, end) from None
        start, end = _syntax_span(exc, body)
        code, params = _syntax_code(str(exc.msg))
        raise ExpressionError.said(code, text, start + shift, end + shift, **params) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError.said("expr.nested", text, 0, len(text)) from None
    return _Reader(text, _Positions(body, shift)).read(tree.body)


def _syntax_code(msg: str) -> tuple[str, dict[str, str]]:
    """The code of one of Python's SyntaxError messages (and its params)."""
    if "nested" in msg:
        return "expr.nested", {}
    closed = re.fullmatch(r"'(.)' was never closed", msg)
    if closed:
        return "expr.never_closed", {"bracket": closed.group(1)}
    unmatched = re.fullmatch(r"unmatched '(.)'", msg)
    if unmatched:
        return "expr.unmatched", {"bracket": unmatched.group(1)}
    for start, code in _SYNTAX.items():
        if msg.startswith(start):
            return code, {}
    return "expr.syntax", {"reason": msg}


def _syntax_span(exc: SyntaxError, body: str) -> tuple[int, int]:
    """Where a SyntaxError points (its offsets count characters, from 1)."""
    if exc.lineno is None:
        return 0, len(body)
    lines = body.split("\n")
    line = sum(len(text) + 1 for text in lines[: exc.lineno - 1])
    start = line + max(exc.offset - 1, 0)
    same_line = getattr(exc, "end_lineno", None) in (None, exc.lineno)
    end = line + exc.end_offset - 1 if same_line and (exc.end_offset or 0) > exc.offset else 0
    return start, max(end, start + 1)


class _Reader:
    """Turns a whitelisted ``ast`` tree into :class:`Op` s, without recursion."""

    def __init__(self, text: str, positions: _Positions):
        self.text, self.pos = text, positions
        self.names: dict[str, int] = {}  # name -> offset of its first use
        self.operations = 0

    def fail(self, code: str, node: ast.AST | tuple[int, int], **params: Any) -> ExpressionError:
        start, end = node if isinstance(node, tuple) else self.pos.span(node)
        return ExpressionError.said(code, self.text, start, end, **params)

    def read(self, top: ast.AST) -> Expression:
        done: dict[int, Op] = {}
        stack: list[tuple[ast.AST, int, bool]] = [(top, 1, False)]
        while stack:
            node, depth, ready = stack.pop()
            if depth > MAX_DEPTH:
                raise self.fail("expr.nested_max", node, max=MAX_DEPTH)
            if not ready:
                stack.append((node, depth, True))
                stack.extend((child, depth + 1, False)
                             for child in reversed(self.children(node)))
                continue
            done[id(node)] = self.op(node, [done[id(c)] for c in self.children(node)])
        root = done[id(top)]
        if self.operations == 0:
            raise self.fail("expr.computes_nothing", top)
        names = tuple(sorted(self.names, key=self.names.__getitem__))
        return Expression(self.text, root, names, self.operations)

    def children(self, node: ast.AST) -> list[ast.AST]:
        """The operands to read first; refuses any node outside the whitelist."""
        if isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY and not isinstance(node.op, ast.Pow):
                symbol = _OTHER_OPERATORS.get(type(node.op), type(node.op).__name__)
                raise self.fail("expr.operator", self.operator(node, symbol), symbol=symbol)
            if isinstance(node.op, ast.Pow):
                return [node.left]  # the exponent is checked as a number in op()
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                symbol = _OTHER_OPERATORS.get(type(node.op), type(node.op).__name__)
                raise self.fail("expr.operator", node, symbol=symbol)
            return [node.operand]
        if isinstance(node, ast.Call):
            self.check_call(node)
            return [node.args[0]]
        if isinstance(node, (ast.Constant, ast.Name)):
            return []
        if isinstance(node, ast.Attribute):
            start = self.pos.span(node.value)[1]
            raise self.fail("expr.attribute", (start, self.pos.span(node)[1]))
        if type(node) in _WHAT:
            raise self.fail(f"expr.no_{_WHAT[type(node)][0]}", node)
        raise self.fail("expr.not_allowed", node, what=type(node).__name__)

    def operator(self, node: ast.BinOp, symbol: str) -> tuple[int, int]:
        start, end = self.pos.span(node.left)[1], self.pos.span(node.right)[0]
        found = self.text.find(symbol, start, end)
        return (found, found + len(symbol)) if found >= 0 else self.pos.span(node)

    def check_call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.fail("expr.attribute", node.func)
            raise self.fail("expr.call_only", node.func, functions=list(FUNCTIONS))
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.fail("expr.call", node.func, name=name, functions=list(FUNCTIONS))
        if node.keywords:
            raise self.fail("expr.keywords", node.keywords[0], name=name)
        if len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise self.fail("expr.one_argument", node, name=name)

    def op(self, node: ast.AST, args: list[Op]) -> Op:
        start, end = self.pos.span(node)
        if isinstance(node, ast.Constant):
            return Op("number", value=self.number(node), offset=start, end=end)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return Op("number", value=CONSTANTS[node.id], offset=start, end=end)
            if node.id in FUNCTIONS:
                raise self.fail("expr.function_name", node, name=node.id)
            self.names[node.id] = min(start, self.names.get(node.id, start))
            return Op("name", value=node.id, offset=start, end=end)
        if isinstance(node, ast.UnaryOp):
            (operand,) = args
            if operand.kind == "number":  # -2 is a number, as in the book's ×(-1)
                sign = -1 if isinstance(node.op, ast.USub) else 1
                return Op("number", value=sign * operand.value, offset=start, end=end)
            if isinstance(node.op, ast.UAdd):
                return operand
            return self.count(Op("neg", (operand,), offset=start, end=end), node)
        if isinstance(node, ast.Call):
            return self.count(Op(node.func.id, tuple(args), offset=start, end=end), node)
        if isinstance(node.op, ast.Pow):
            n = self.exponent(node.right)
            return self.count(Op("**", tuple(args), value=n, offset=start, end=end), node)
        return self.count(Op(BINARY[type(node.op)][0], tuple(args), offset=start, end=end),
                          node)

    def count(self, op: Op, node: ast.AST) -> Op:
        self.operations += 1
        if self.operations > MAX_OPERATIONS:
            raise self.fail("expr.too_many", node, max=MAX_OPERATIONS)
        return op

    def number(self, node: ast.Constant) -> float:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if isinstance(v, (str, bytes)):
                raise self.fail("expr.text_value", node)
            raise self.fail("expr.constant", node, value=repr(v))
        try:
            v = float(v)
        except OverflowError:
            v = math.inf
        if not math.isfinite(v):
            raise self.fail("expr.number_too_large", node)
        return v

    def exponent(self, node: ast.AST) -> float:
        sign = 1
        inner = node
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            inner = node.operand
        if not isinstance(inner, ast.Constant):
            raise self.fail("expr.exponent_not_number", node)
        n = sign * self.number(inner)
        if abs(n) > MAX_EXPONENT:
            raise self.fail("expr.exponent_too_large", node, max=MAX_EXPONENT)
        return n


def real_number(name: str, value: Any) -> np.float64:
    """``value`` as a finite float64, or an :class:`InputError` naming the input."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        if not (isinstance(value, np.ndarray) and value.ndim == 0
                and value.dtype.kind in "iuf"):
            raise InputError.said("expr.input_not_real", name, got=_shown(value))
    try:
        v = np.float64(value)
    except OverflowError:
        v = np.float64(np.inf)
    if not np.isfinite(v):
        raise InputError.said("expr.input_not_finite", name, got=_shown(value))
    return v


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def build(expression: Expression, inputs: dict[str, Any], graph):
    """Record ``expression`` at ``inputs`` into ``graph`` (a new, empty
    :class:`~chainrule.graph.record.Graph`), then run its backward from 1; return it.

    Raises :class:`InputError` for an input that is missing, not used by the
    expression, or not a finite real number.
    """
    for name in expression.names:
        if name not in inputs:
            raise InputError.said("expr.input_missing", name)
    for name in inputs:
        if name not in expression.names:
            if not expression.names:
                raise InputError.said("expr.input_unused_none", name)
            raise InputError.said("expr.input_unused", name, used=list(expression.names))
    values = {name: real_number(name, inputs[name]) for name in expression.names}
    with np.errstate(all="ignore"), graph as g:
        g.quiet = True  # IEEE values, also when it reruns
        _run(expression, dict(zip(expression.names, g.inputs(**values), strict=True)))
        g.backward(1)
    return g


def evaluate(expression: Expression, values: dict[str, Any]) -> Any:
    """The value of ``expression`` at ``values`` (numbers or arrays, which broadcast),
    computed by the same node layers and recording nothing: the output over a whole
    range of one input at once (the lab's sliders stay where the value is finite)."""
    with np.errstate(all="ignore"):
        return _run(expression, {n: np.asarray(values[n], dtype=np.float64)
                                 for n in expression.names})


def _run(expression: Expression, held: dict[str, Any]) -> Any:
    """Every operation of ``expression`` on the values ``held`` (name -> value)."""
    done: dict[int, Any] = {}
    stack = [(expression.root, False)]
    while stack:
        op, ready = stack.pop()
        if id(op) in done:
            continue
        if not ready:
            stack.append((op, True))
            stack.extend((a, False) for a in reversed(op.args))  # left first
            continue
        done[id(op)] = _compute(op, [done[id(a)] for a in op.args], held)
    return done[id(expression.root)]


def _compute(op: Op, args: list, held: dict) -> Any:
    if op.kind == "number":
        return np.float64(op.value)  # a constant of its own
    if op.kind == "name":
        return held[op.value]
    if op.kind == "neg":
        return NegLayer().forward(*args)
    if op.kind == "**":
        return PowLayer(op.value).forward(*args)
    if op.kind in FUNCTIONS:
        return FUNCTIONS[op.kind]().forward(*args)
    if op.kind == "/" and op.args[0].kind == "number" and op.args[0].value == 1:
        return ReciprocalLayer().forward(args[1])  # the book's "/" node
    layer = {symbol: cls for symbol, cls in BINARY.values()}[op.kind]
    return layer().forward(*args)
