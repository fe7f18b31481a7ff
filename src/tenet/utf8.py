"""Where bytes stop being UTF-8: the line, column and byte offset of the first bad byte."""

from __future__ import annotations

import codecs

from tenet.diagnostics import Diagnostic
from tenet.source import Source

__all__ = ["NotUtf8", "Utf8Checker", "decode_utf8", "not_utf8"]

_BOM = codecs.BOM_UTF8


class NotUtf8(Exception):
    """Bytes that are not UTF-8, where the file holds them: 1-based line and column (in
    characters, a byte order mark taking none), 0-based byte offset, and the byte."""

    def __init__(self, line: int, column: int, offset: int, byte: int) -> None:
        super().__init__(line, column, offset, byte)
        self.line, self.column, self.offset, self.byte = line, column, offset, byte

    @property
    def utf16(self) -> bool:
        """Whether the file starts as a UTF-16 one does, with its byte order mark FF FE or FE FF."""
        return self.offset == 0 and self.byte in (0xFF, 0xFE)

    def iconv(self, files: str = "IN > OUT") -> str:
        """The command that converts such a file, for advice: from UTF-16 when it starts as
        one, else from Latin-1, the likeliest of the rest."""
        return f"`iconv -f {'utf-16' if self.utf16 else 'latin1'} -t utf-8 {files}`"

    def where(self) -> str:
        """`line 4, column 6 holds the byte 0xe9 (at byte offset 38)`, for a message."""
        return (
            f"line {self.line}, column {self.column} holds the byte 0x{self.byte:02x} "
            f"(at byte offset {self.offset})"
            + (", the start of a UTF-16 byte order mark" if self.utf16 else "")
        )


class Utf8Checker:
    """Decodes bytes given in file order, chunk by chunk, as UTF-8, counting lines and columns
    on the way, so that the first bad byte is placed in the file however it was read (a
    character may be split across chunks). Raises `NotUtf8` there."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._read = 0  # bytes given before the current chunk
        self._newlines = 0  # line ends among them
        self._column = 0  # characters decoded since the last line end

    def feed(self, data: bytes, final: bool = False) -> str:
        """The text of ``data``; ``final`` at the end of the file (a character cut short by
        the end is then an error)."""
        held = len(self._utf8.getstate()[0])  # the start of a character split across chunks
        if self._read == 0 and data.startswith(_BOM):
            self._column = -1  # a byte order mark is not a character of the first line
        try:
            text = self._utf8.decode(data, final=final)
        except UnicodeDecodeError as err:
            into = max(0, err.start - held)  # the bad bytes' start within `data`
            line = self._newlines + data.count(b"\n", 0, into) + 1
            before = err.object[: err.start].decode("utf-8")  # whole characters, all good
            nl = before.rfind("\n")
            column = len(before) - nl if nl >= 0 else self._column + len(before) + 1
            offset = self._read - held + err.start
            raise NotUtf8(line, column, offset, err.object[err.start]) from None
        self._read += len(data)
        self._newlines += data.count(b"\n")
        nl = text.rfind("\n")
        self._column = len(text) - nl - 1 if nl >= 0 else self._column + len(text)
        return text


def decode_utf8(data: bytes) -> str:
    """The text of a whole file's bytes, a byte order mark kept; raises `NotUtf8`."""
    return Utf8Checker().feed(data, final=True)


def not_utf8(rel: str, content: bytes) -> Diagnostic:
    """A file that is not UTF-8 text, pointed at its first bad byte (its excerpt shows the
    byte as the replacement character)."""
    try:
        decode_utf8(content)
    except NotUtf8 as bad:
        source = Source(rel, content.decode("utf-8", "replace"))
        at = len(content[: bad.offset].decode("utf-8"))  # whole characters before it
        return Diagnostic(
            "encoding",
            f"`{rel}` is not UTF-8 text: {bad.where()}",
            source.span(at, at + 1),
            f"save it as UTF-8, or convert it, e.g. {bad.iconv()}",
            file=rel,
        )
    raise AssertionError(f"`{rel}` decodes as UTF-8 here but did not for the caller")
