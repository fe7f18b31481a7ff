"""The syntax tree: one frozen, slotted dataclass per construct; spans never affect equality."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenet.source import NO_SPAN, Span

__all__ = [
    "Annotation",
    "ArrayComp",
    "ArrayLit",
    "Assign",
    "Binary",
    "Body",
    "BoolOp",
    "Call",
    "Check",
    "CompFor",
    "CompIf",
    "Compare",
    "Condition",
    "DefaultRule",
    "Definition",
    "EveryIn",
    "Expr",
    "Field",
    "Import",
    "Index",
    "Literal",
    "Module",
    "Negate",
    "Not",
    "ObjectComp",
    "ObjectLit",
    "Rule",
    "SetComp",
    "SomeIn",
    "Statement",
    "Var",
]


# ---- expressions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any  # None, bool, int, float or str
    raw: str = field(default="", compare=False, repr=False)  # as written: `10%`, `1_000`
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Field:
    obj: Expr
    name: str
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Index:
    obj: Expr
    index: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    func: Expr  # a Var or a Field chain naming a built-in, function, or imported function
    args: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / %
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >= in "not in"
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and, or
    left: Expr
    right: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ObjectLit:
    pairs: tuple[tuple[Expr, Expr], ...]  # a bare-name key is a string Literal
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CompFor:
    names: tuple[str, ...]  # one name, or key/index and value
    collection: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    # where each name is written, for diagnostics about the name itself
    names_at: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CompIf:
    condition: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ArrayComp:
    element: Expr
    clauses: tuple[CompFor | CompIf, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SetComp:
    element: Expr
    clauses: tuple[CompFor | CompIf, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ObjectComp:
    key: Expr
    value: Expr
    clauses: tuple[CompFor | CompIf, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


Expr = (
    Literal
    | Var
    | Field
    | Index
    | Call
    | Negate
    | Not
    | Binary
    | Compare
    | BoolOp
    | ArrayLit
    | ObjectLit
    | ArrayComp
    | SetComp
    | ObjectComp
)

# ---- statements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    expr: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    # where each name is written, for diagnostics about the name itself
    names_at: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SomeIn:
    names: tuple[str, ...]
    collection: Expr
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    # where each name is written, for diagnostics about the name itself
    names_at: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class EveryIn:
    names: tuple[str, ...]
    collection: Expr
    body: Body
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    # where each name is written, for diagnostics about the name itself
    names_at: tuple[Span, ...] = field(default=(), compare=False, repr=False)


Statement = Condition | Assign | SomeIn | EveryIn


@dataclass(frozen=True, slots=True)
class Body:
    statements: tuple[Statement, ...]
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


# ---- definitions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Annotation:
    text: str  # the line after `#@`
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rule:
    """``kind`` is one of: bool, value, set, bool_function, value_function."""

    kind: str
    name: str
    params: tuple[str, ...]
    value: Expr | None  # the value (value rules, functions) or element (partial sets)
    body: Body | None
    annotations: tuple[Annotation, ...] = ()
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
    params_at: tuple[Span, ...] = field(default=(), compare=False, repr=False)  # each param

    @property
    def is_function(self) -> bool:
        return self.kind.endswith("function")


@dataclass(frozen=True, slots=True)
class DefaultRule:
    name: str
    value: Expr
    annotations: tuple[Annotation, ...] = ()
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Check:
    kind: str  # require, forbid
    name: str
    severity: str | None  # None means the default, blocking
    when: Expr | None
    body: Body
    message: str | None
    annotations: tuple[Annotation, ...] = ()
    message_span: Span | None = field(default=None, compare=False, repr=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


Definition = Rule | DefaultRule | Check


@dataclass(frozen=True, slots=True)
class Import:
    path: tuple[str, ...]
    alias: str | None
    span: Span = field(default=NO_SPAN, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.alias or self.path[-1]


@dataclass(frozen=True, slots=True)
class Module:
    package: tuple[str, ...]
    imports: tuple[Import, ...]
    definitions: tuple[Definition, ...]
    # (offset, text) of every `#` comment, for the formatter; not part of equality
    comments: tuple[tuple[int, str], ...] = field(default=(), compare=False, repr=False)
    package_span: Span | None = field(default=None, compare=False, repr=False)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)
