"""Where each key of a bundle's merged data document was written: the data file that set it,
and the key's line and column in that file, so that a data error points into the file."""

from __future__ import annotations

from dataclasses import dataclass, field

from tenet.diagnostics import DataPath, Diagnostic
from tenet.locate import InputLocator
from tenet.source import Source, Span

__all__ = ["DataPlaces"]


@dataclass(eq=False)
class DataPlaces:
    """The data files of a bundle and which of them set each key path of `data`."""

    owners: dict[DataPath, str] = field(default_factory=dict)  # key path -> data file
    _sources: dict[str, Source] = field(default_factory=dict)
    _locators: dict[str, InputLocator] = field(default_factory=dict)

    def add_file(self, rel: str, text: str) -> None:
        self._sources[rel] = Source(rel, text)

    def owner(self, at: DataPath) -> str | None:
        """The file that set a key path: the one that set it or a mapping holding it."""
        for n in range(len(at), 0, -1):
            found = self.owners.get(at[:n])
            if found is not None:
                return found
        return None

    def place(self, at: DataPath) -> tuple[str | None, Span | None]:
        """The file that set `at` and where in it (the nearest enclosing value that is
        written there when `at` itself is not, as for a missing key)."""
        file = self.owner(at)
        return file, None if file is None else self.span_in(file, at)

    def span_in(self, file: str, at: DataPath) -> Span | None:
        """Where `file` writes the key path `at` of `data` (`x/data.yaml` writes `data.x`)."""
        source = self._sources.get(file)
        prefix = tuple(file.split("/")[:-1])
        if source is None or tuple(at[: len(prefix)]) != prefix:
            return None
        locator = self._locators.get(file)
        if locator is None:
            locator = self._locators[file] = InputLocator(source.text, file.endswith(".json"))
        found = locator.bounds([str(step) for step in at[len(prefix) :]])
        if found is None:
            return None
        start, end, _ = found
        return source.span(start, end)

    def diagnostic(self, code: str, message: str, help: str | None, at: DataPath) -> Diagnostic:
        file, span = self.place(at)
        return Diagnostic(code, message, span, help, file=file)
