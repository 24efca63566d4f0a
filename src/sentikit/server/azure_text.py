"""Sentences and string offsets the way Azure AI Language reports them.

Azure gives every sentence an ``offset`` and ``length`` in the unit the client asks for
(``stringIndexType``): Unicode code points (Python's ``str`` indices), UTF-16 code units
(JavaScript, Java, .NET strings) or ``TextElements_v8``, text elements as .NET's
``StringInfo`` counted them: extended grapheme clusters by the rules of Unicode 8.0
(UAX #29 revision 27). The document-size limit (5,120) is counted in text elements too.

Python's ``unicodedata`` has no Grapheme_Cluster_Break property, so the clusters use the
``regex`` module's (current Unicode data), with the Unicode 8.0 rules: no emoji ZWJ or
modifier joining (GB11, Unicode 9+), any run of regional indicators is one element (8.0's
GB8a, before flags were paired), no Prepend or Indic-conjunct rules.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import cache
from typing import TYPE_CHECKING, Callable, Literal

if TYPE_CHECKING:
    import regex

StringIndexType = Literal["UnicodeCodePoint", "Utf16CodeUnit", "TextElements_v8"]
STRING_INDEX_TYPES: tuple[StringIndexType, ...] = ("TextElements_v8", "UnicodeCodePoint", "Utf16CodeUnit")

# Unicode 8.0 text elements. ZWJ was Extend in 8.0; the emoji modifiers U+1F3FB..U+1F3FF are
# Extend only since Unicode 11 and were ordinary characters before.
_EXTEND_8 = r"[\p{Grapheme_Cluster_Break=Extend}\p{Grapheme_Cluster_Break=ZWJ}\p{Grapheme_Cluster_Break=SpacingMark}--[\U0001F3FB-\U0001F3FF]]"
_CONTROL = r"[\p{Grapheme_Cluster_Break=Control}\p{Grapheme_Cluster_Break=CR}\p{Grapheme_Cluster_Break=LF}]"
_L, _V, _T = (rf"\p{{Grapheme_Cluster_Break={v}}}" for v in ("L", "V", "T"))
_LV, _LVT = r"\p{Grapheme_Cluster_Break=LV}", r"\p{Grapheme_Cluster_Break=LVT}"
_HANGUL = rf"{_L}*(?:{_V}+|{_LV}{_V}*|{_LVT}){_T}*|{_L}+|{_T}+"


@cache
def _text_element_8() -> regex.Pattern[str]:
    """Compiled on first use: importing regex and compiling this is ~15 ms of a server's start."""
    import regex

    return regex.compile(
        rf"\r\n|{_CONTROL}|(?:\p{{Grapheme_Cluster_Break=Regional_Indicator}}+|{_HANGUL}|.){_EXTEND_8}*",
        regex.V1 | regex.DOTALL,
    )


def text_element_starts(text: str) -> list[int]:
    """Code-point index where each Unicode 8.0 text element of ``text`` starts."""
    return [match.start() for match in _text_element_8().finditer(text)]


def count_text_elements(text: str) -> int:
    """How many text elements (``TextElements_v8``) ``text`` has."""
    if text.isascii():  # every ASCII character is an element, except that CR LF is one
        return len(text) - text.count("\r\n")
    return len(_text_element_8().findall(text))


def index_converter(text: str, index_type: StringIndexType) -> Callable[[int], int]:
    """A function from a code-point index in ``text`` to the same position in ``index_type`` units."""
    if index_type == "UnicodeCodePoint" or not text:
        return lambda index: index
    if index_type == "Utf16CodeUnit" and max(text) <= "\uffff":  # no surrogate pairs: the same units
        return lambda index: index
    if index_type == "TextElements_v8" and text.isascii() and "\r\n" not in text:
        return lambda index: index
    if index_type == "Utf16CodeUnit":
        # Code points above U+FFFF take two UTF-16 code units (a surrogate pair).
        prefix = [0]
        for char in text:
            prefix.append(prefix[-1] + (2 if ord(char) > 0xFFFF else 1))
        return lambda index: prefix[index]
    starts = text_element_starts(text)
    # A position inside an element (never a sentence boundary) counts as that element's start.
    return lambda index: bisect_right(starts, index - 1) if index else 0


# --- sentences -----------------------------------------------------------------------------

_TERMINATORS = ".!?…‼⁇⁈⁉؟।"
# Full-width terminators end a sentence without a following space (Chinese, Japanese).
_WIDE_TERMINATORS = "。！？｡"
_CLOSERS = "\"'”’»)]}」』）】"
# Words after which a full stop is usually not the end of a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e approx dept est fig inc ltd no vol".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` code-point spans of the sentences in ``text``.

    Like the service, a sentence keeps the whitespace that follows it, so the spans tile the
    text from its first non-space character to its end. A sentence ends after terminal
    punctuation (and any closing quotes or brackets) followed by whitespace, after a
    full-width terminator, or at a line break. A full stop after a known abbreviation or a
    single letter, or before a lower-case word, does not end a sentence.
    """
    spans: list[tuple[int, int]] = []
    start = _skip_space(text, 0)
    position = start
    length = len(text)
    while position < length:
        char = text[position]
        end = -1
        if char in "\n\r\u2028\u2029":
            end = position + 1
        elif char in _WIDE_TERMINATORS or char in _TERMINATORS:
            after = position + 1
            while after < length and (text[after] in _TERMINATORS or text[after] in _WIDE_TERMINATORS):
                after += 1
            while after < length and text[after] in _CLOSERS:
                after += 1
            if char in _WIDE_TERMINATORS or after == length or text[after].isspace():
                if not (char == "." and _is_abbreviation(text, start, position, after)):
                    end = after
            position = after - 1
        if end >= 0:
            end = _skip_space(text, end)
            spans.append((start, end))
            start = position = end
            continue
        position += 1
    if start < length:
        spans.append((start, length))
    return spans


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def _is_abbreviation(text: str, sentence_start: int, stop: int, after: int) -> bool:
    word_start = stop
    while word_start > sentence_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:stop].lower().strip("\"'([")
    if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return True
    following = _skip_space(text, after)
    return following < len(text) and text[following].islower()
