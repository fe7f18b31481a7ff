"""Print the built-in function reference of docs/language.md from the registry.

    .venv/bin/python docs/gen_builtins.py

The output goes between `<!-- builtins:start -->` and `<!-- builtins:end -->` in
docs/language.md. Every row comes from `tenet.runtime.builtins.BUILTINS`: the name, the
number of arguments, the doc string and the example each built-in is registered with.
"""

from __future__ import annotations

from tenet.runtime.builtins import BUILTINS, Builtin

# The groups in the order of the spec's built-in table; any new group follows, by name.
GROUP_ORDER = (
    "types",
    "strings",
    "match",
    "numbers",
    "collections",
    "versions",
    "time",
    "hashing",
    "schema",
    "fairness",
)


def arguments(b: Builtin) -> str:
    if b.max_args is None:
        return "any number" if b.min_args == 0 else f"{b.min_args} or more"
    if b.min_args == b.max_args:
        return str(b.min_args)
    return f"{b.min_args} to {b.max_args}"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (a `|` would end the cell, even in code)."""
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    groups = sorted(
        {b.group for b in BUILTINS.values()},
        key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER), g),
    )
    out: list[str] = []
    for group in groups:
        members = sorted((b for b in BUILTINS.values() if b.group == group), key=lambda b: b.name)
        out.append(f"#### {group}")
        out.append("")
        out.append("| name | arguments | description | example |")
        out.append("| --- | --- | --- | --- |")
        for b in members:
            example = f"`{cell(b.example)}`" if b.example else ""
            out.append(f"| `{b.name}` | {arguments(b)} | {cell(b.doc)} | {example} |")
        out.append("")
    return "\n".join(out).rstrip("\n")


if __name__ == "__main__":
    print(render())
