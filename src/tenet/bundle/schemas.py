"""A bundle's JSON Schemas: validators whose `$ref`s resolve to the bundle's own files and
never to the network, and the load-time check that every `$ref` resolves.

Each schema file is known by a URI under `BASE` and its relative path in the bundle, so that
`{"$ref": "model.schema.json#/$defs/id"}` in `schemas/deploy.schema.json` names
`schemas/model.schema.json`. A schema with an `$id` of its own is known by that too. Any
other URI is unresolvable: jsonschema's default would fetch it over HTTP while deciding."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urldefrag, urljoin

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import (
    InvalidAnchor,
    NoSuchAnchor,
    NoSuchResource,
    PointerToNowhere,
    Unresolvable,
)
from referencing.jsonschema import DRAFT202012

from tenet.bundle.schema_regex import linear, pattern_problems
from tenet.diagnostics import Diagnostic, did_you_mean
from tenet.locate import InputLocator, split_pointer, unreadable_diagnostic
from tenet.source import Source
from tenet.utf8 import not_utf8
from tenet.yamlutil import DocumentError, check_document, load_json, pointer

__all__ = ["BASE", "SchemaFiles"]

# a reserved domain (RFC 2606): it names the bundle's files and can never be fetched
BASE = "https://bundle.tenet.invalid/"

# keywords whose values are data, not schemas: a `$ref` key inside them is not a reference
# keywords whose value maps names to schemas: `properties.a` is a schema, not a keyword
_NAMED_SCHEMAS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
_NAMES = _NAMED_SCHEMAS | {"dependentRequired", "dependencies"}  # keyed by the user's names


def _keyword_of(path: list[str]) -> tuple[str | None, bool]:
    """The keyword a schema's error is under, and whether the path ends at a name the user
    gave under it (`/dependentRequired/a`: `a` is a property, not a keyword)."""
    keyword: str | None = None
    name_next = ends_at_name = False
    for step in path:
        if name_next:
            name_next, ends_at_name = False, True
            continue
        ends_at_name = False
        if step.isdigit():
            continue  # an index under a keyword that takes a list (`allOf/0`)
        keyword, name_next = step, step in _NAMES
    return keyword, ends_at_name


_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
_DATA = frozenset({"const", "enum", "examples", "default"})


_RE2_HELP = (
    "Tenet matches schema patterns with RE2, in time linear in the input, as the `regex` "
    "built-in: write it without lookaround or backreferences"
)


@functools.cache
def _meta_checker(cls: Any) -> jsonschema.FormatChecker:
    """The meta-schema's format checks, less `regex`: the meta-schema checks a pattern with
    Python's `re`, which refuses RE2 syntax such as `\\p{Cf}` that the patterns are matched
    with; `pattern_problems` judges patterns by RE2 instead."""
    meta = jsonschema.validators.validator_for(cls.META_SCHEMA, default=cls)
    checks = dict(meta.FORMAT_CHECKER.checkers)
    checks.pop("regex", None)
    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = checks
    return checker


class SchemaFiles:
    """The bundle's JSON files as schemas. `add` every schema file first, then ask for the
    `validator`s: references between schema files can go either way."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = files
        self._parsed: dict[str, Any] = {}  # other JSON files, read when referred to
        self._schemas: dict[str, tuple[Any, Any]] = {}  # path -> schema, validator class
        self._registry: Registry[Any] = Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
        self._by_id: dict[str, str] = {}  # `$id` URI -> the file declaring it

    def _retrieve(self, uri: str) -> Resource[Any]:
        rel = uri[len(BASE) :] if uri.startswith(BASE) else None
        if rel is None or not rel.endswith(".json") or rel not in self._files:
            raise NoSuchResource(uri)
        if rel not in self._parsed:
            try:
                self._parsed[rel] = load_json(self._files[rel].decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise NoSuchResource(uri) from None
        return Resource.from_contents(self._parsed[rel], default_specification=DRAFT202012)

    def add(self, rel: str, diags: list[Diagnostic]) -> bool:
        """Read the schema file `rel` and make it known to references; False (with the
        problems in `diags`) when it is not a valid JSON Schema."""
        if rel in self._schemas:
            return True
        try:
            text = self._files[rel].decode("utf-8")
        except UnicodeDecodeError:
            diags.append(not_utf8(rel, self._files[rel]))
            return False
        try:
            schema = load_json(text)
        except (ValueError, RecursionError) as err:
            diags.append(
                unreadable_diagnostic("schema", f"schema `{rel}`", Source(rel, text), True, err)
            )
            return False
        try:
            check_document(schema)  # as the YAML files' loader does: half a UTF-16 pair alone
        except DocumentError as err:
            diags.append(self._at(rel, err))
            return False
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        check: Any = cls.check_schema  # its stub leaves out `format_checker`
        try:
            check(schema, format_checker=_meta_checker(cls))
        except jsonschema.SchemaError as err:
            diags.append(self._invalid(rel, text, err))
            return False
        bad = pattern_problems(schema)
        if bad:
            diags.extend(self._at(rel, DocumentError(at, why), _RE2_HELP) for at, why in bad)
            return False
        cls = linear(cls)
        for at, sub in _subschemas(schema, BASE + rel):
            if isinstance(sub.get("$id"), str):
                self._by_id[urldefrag(at).url] = rel
        if isinstance(schema, dict):
            resource = Resource.from_contents(schema, default_specification=DRAFT202012)
            self._registry = self._registry.with_resource(BASE + rel, resource)
            if isinstance(schema.get("$id"), str):
                self._registry = self._registry.with_resource(schema["$id"], resource)
            else:
                schema = {"$id": BASE + rel, **schema}  # relative references resolve from it
        self._schemas[rel] = (schema, cls)
        return True

    def _at(self, rel: str, err: DocumentError, help: str | None = None) -> Diagnostic:
        """A schema's value that is no JSON value, pointed at in its file."""
        source = Source(rel, self._files[rel].decode("utf-8"))
        found = InputLocator(source.text, True).bounds(split_pointer(err.path))
        span = None if found is None else source.span(found[0], found[1])
        message = f"schema `{rel}` at {err.path or '/'}: {err.message}"
        return Diagnostic("schema", message, span, help, file=rel)

    def _invalid(self, rel: str, text: str, err: jsonschema.SchemaError) -> Diagnostic:
        """A schema the JSON Schema meta-schema refuses, at the value at fault, in our words
        (jsonschema's quote Python's `repr`)."""
        path = [str(step) for step in err.path]
        source = Source(rel, text)
        found = InputLocator(text, True).bounds(path)
        span = None if found is None else source.span(found[0], found[1])
        keyword, named = _keyword_of(path)
        value = json.dumps(err.instance, ensure_ascii=False)
        if len(value) > 60:
            value = value[:57] + "…"
        where = f"`{keyword}`" if keyword else "the schema"
        subschema = named and keyword in _NAMED_SCHEMAS
        if named:
            where = f"`{keyword}.{path[-1]}`"
        at = f" at `{pointer(tuple(path))}`" if path else ""
        if err.validator == "type":
            wanted = err.validator_value
            kinds = " or ".join(wanted) if isinstance(wanted, list) else str(wanted)
            message = f"schema `{rel}` is invalid{at}: {where} must be {_a(kinds)}, not `{value}`"
        else:
            message = f"schema `{rel}` is invalid{at}: `{value}` is not a valid {where}"
        if keyword == "type" and not named:
            hint = (
                did_you_mean(str(err.instance), _TYPES) if isinstance(err.instance, str) else None
            )
            help = hint or "a `type` is one of " + ", ".join(f"`{t}`" for t in _TYPES)
        elif subschema:
            help = 'a schema is an object, like `{"type": "string"}`, or `true` or `false`'
        else:
            what = f"`{keyword}`" if keyword else "a schema"
            help = f"see what {what} takes in JSON Schema (draft 2020-12 unless `$schema` says)"
        return Diagnostic("schema", message, span, help, file=rel)

    def validator(self, rel: str, diags: list[Diagnostic]) -> Any:
        """The validator of a schema file `add`ed before, once every schema is added (so that
        each can refer to any other); None, with the problems in `diags`, when one of its
        references does not resolve."""
        schema, cls = self._schemas[rel]
        problems = [
            _unresolved(rel, ref, why) for ref, why in _dangling(schema, BASE + rel, self._lookup)
        ]
        if problems:
            diags.extend(problems)
            return None
        return cls(schema, registry=self._registry, format_checker=cls.FORMAT_CHECKER)

    def reads(self, rel: str) -> tuple[str, ...]:
        """The files schema file `rel` reads, bytewise sorted: itself, the files its `$ref`s
        name, theirs, and so on (a whole file, when a pointer names part of it). Only for a
        schema whose `validator` was made: every reference resolves."""
        seen = {rel}
        todo = [rel]
        while todo:
            at = todo.pop()
            for base, ref in _refs(self._document(at), BASE + at):
                target = self._file_of(urldefrag(urljoin(base, ref)).url)
                # an `$id` this map missed: count every JSON file rather than miss one
                for found in (
                    [target] if target else [r for r in self._files if r.endswith(".json")]
                ):
                    if found not in seen:
                        seen.add(found)
                        todo.append(found)
        return tuple(sorted(seen, key=lambda r: r.encode("utf-8")))

    def _document(self, rel: str) -> Any:
        if rel in self._schemas:
            return self._schemas[rel][0]
        try:
            return self._retrieve(BASE + rel).contents
        except NoSuchResource:  # not JSON: nothing it refers to
            return None

    def _file_of(self, uri: str) -> str | None:
        if uri.startswith(BASE) and uri[len(BASE) :] in self._files:
            return uri[len(BASE) :]
        return self._by_id.get(uri)

    # ---- following references, for the lints (`analysis.lints.SchemaRefs`) --------------

    def where(self, rel: str) -> Any:
        """Where the `$ref`s of schema file `rel` resolve from."""
        schema = self._schemas.get(rel, (None, None))[0]
        base = schema.get("$id") if isinstance(schema, dict) else None
        return self._registry.resolver(base_uri=base if isinstance(base, str) else BASE + rel)

    def follow(self, where: Any, ref: str) -> tuple[Any, Any] | None:
        """What `ref` names, and where the `$ref`s inside it resolve from; None when it does
        not resolve."""
        try:
            resolved = where.lookup(ref)
        except Exception:  # unresolvable: the load reported it
            return None
        return resolved.resolver, resolved.contents

    def _lookup(self, base: str, ref: str) -> str | None:
        """Why `ref` (in a schema whose base URI is `base`) does not resolve; None if it does."""
        try:
            self._registry.resolver(base_uri=base).lookup(ref)
        except (PointerToNowhere, NoSuchAnchor, InvalidAnchor):
            return "which points at nothing in it"  # the file is there; what follows `#` is not
        except Unresolvable:
            return "which is not a JSON file of the bundle"
        except Exception as err:  # a malformed pointer and the like
            return f"which cannot be followed: {err}"
        return None


def _a(kinds: str) -> str:
    return ("an " if kinds[:1] in "aeiou" else "a ") + kinds


def _subschemas(node: Any, base: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object under `node` that may be a schema, with the base URI its `$ref` resolves
    from (an `$id` on the way moves it)."""
    if isinstance(node, dict):
        if isinstance(node.get("$id"), str):
            base = urljoin(base, node["$id"])
        yield base, node
        for key, value in node.items():
            if key not in _DATA:
                yield from _subschemas(value, base)
    elif isinstance(node, list):
        for item in node:
            yield from _subschemas(item, base)


def _refs(node: Any, base: str) -> Iterator[tuple[str, str]]:
    """Each `$ref` under `node`, with the base URI it resolves from."""
    for at, schema in _subschemas(node, base):
        if isinstance(schema.get("$ref"), str):
            yield at, schema["$ref"]


def _dangling(
    node: Any, base: str, lookup: Callable[[str, str], str | None]
) -> Iterator[tuple[str, str]]:
    """Each `$ref` under `node` that does not resolve, with why."""
    for at, ref in _refs(node, base):
        why = lookup(at, ref)
        if why is not None:
            yield ref, why


def _unresolved(rel: str, ref: str, why: str) -> Diagnostic:
    return Diagnostic(
        "schema",
        f"schema `{rel}` refers to `{ref}`, {why}",
        None,
        "a schema may refer to its own `$defs` and, by relative path, to the bundle's JSON "
        "files, such as `common.schema.json#/$defs/id`; nothing is fetched over the network",
        file=rel,
    )
