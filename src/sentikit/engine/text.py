"""Text preparation shared by training (inside scikit-learn's vectoriser) and the scoring engine.

Pure Python and importable without scikit-learn, so that the engine reproduces training exactly
by calling the very same code: :class:`SocialNormalizer` (the preprocessor: social-media
normalisation, lower case, accents) and :class:`NegationTokenizer` (the word tokenizer).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable, Optional

# Words, keeping apostrophes inside them ("don't", "n't"), plus the punctuation that carries
# sentiment (! ?) or ends a negation's reach (. , ; :).
TOKEN_PATTERN = r"(?u)\b\w[\w']*\b|[!?.,;:]"
NEGATIONS = frozenset(
    "not no never nothing nobody none neither nor cannot without hardly n't".split()
)
_KEPT_PUNCTUATION = frozenset("!?")
_CLAUSE_ENDS = frozenset("!?.,;:")
NEGATED_PREFIX = "NOT_"  # upper case: never collides with the (lower-cased) tokens


class NegationTokenizer:
    """Split text into tokens and mark up to ``scope`` words after a negation with ``NOT_``.

    "this is not good, but fine" -> ["this", "is", "not", "NOT_good", "but", "fine"]: "good" after
    "not" then means something else than "good", which a bag of n-grams cannot see otherwise.
    The reach ends at clause punctuation. ``!`` and ``?`` are kept as tokens, other punctuation dropped.
    """

    def __init__(self, scope: int = 3, pattern: str = TOKEN_PATTERN) -> None:
        self.scope = scope
        self.pattern = pattern
        self._findall = re.compile(pattern).findall

    def __call__(self, text: str) -> list[str]:
        tokens: list[str] = []
        left = 0
        scope = self.scope
        for token in self._findall(text):
            if token in _CLAUSE_ENDS:
                left = 0
                if token in _KEPT_PUNCTUATION:
                    tokens.append(token)
                continue
            if left:
                tokens.append(NEGATED_PREFIX + token)
                left -= 1
            else:
                tokens.append(token)
            if token in NEGATIONS or token.endswith("n't"):
                left = scope
        return tokens

    def to_spec(self) -> dict[str, Any]:
        """The exported form the engine rebuilds this tokenizer from."""
        return {"kind": "negation", "scope": self.scope, "pattern": self.pattern}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "NegationTokenizer":
        if spec.get("kind") != "negation":
            raise ValueError(f"unknown tokenizer kind {spec.get('kind')!r}")
        return cls(int(spec["scope"]), str(spec["pattern"]))

    # Pickle the settings, not the compiled regex method.
    def __getstate__(self) -> dict[str, Any]:
        return {"scope": self.scope, "pattern": self.pattern}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["scope"], state["pattern"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"NegationTokenizer(scope={self.scope})"


# --- scikit-learn's accent stripping, reproduced --------------------------------------------------


def strip_accents_unicode(s: str) -> str:
    """Same as ``sklearn.feature_extraction.text.strip_accents_unicode``."""
    if s.isascii():
        return s
    normalized = unicodedata.normalize("NFKD", s)
    return "".join([c for c in normalized if not unicodedata.combining(c)])


def strip_accents_ascii(s: str) -> str:
    """Same as ``sklearn.feature_extraction.text.strip_accents_ascii``."""
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


ACCENT_FUNCTIONS: dict[Optional[str], Optional[Callable[[str], str]]] = {
    None: None,
    "unicode": strip_accents_unicode,
    "ascii": strip_accents_ascii,
}


# --- social-media normalisation -------------------------------------------------------------------

RESOURCES = "sentikit.resources"
EMOJI_LEXICON = "emoji_utf8_lexicon.txt"  # VADER's emoji -> description table (MIT; data/README.md)
URL_TOKEN = "xxurl"
USER_TOKEN = "xxuser"
SOCIAL_STEPS = ("entities", "urls", "mentions", "hashtags", "emoji", "emoticons", "elongation", "punctuation")

_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"]+|\b[a-z0-9.-]+\.(?:com|net|org|co|io|ly)/[^\s<>\"]*")
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
_HASHTAG = re.compile(r"(?<![\w#&])#(\w*[^\W\d_]\w*)")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")  # a letter three or more times: "soooo" -> "soo"
_REPEATED_PUNCTUATION = re.compile(r"([!?.])[!?.]{2,}")  # "!!!!" -> "!!", "?!?!" -> "?!"
# eyes, optional nose, mouth (and the reverse): the common Western emoticons, with their meaning
_EMOTICON_WORDS = {
    "smile": r"[:=][-o^']?[)\]}]|\([-o^']?[:=]|\^_?\^",
    "laugh": r"[:=][-o^']?D(?!\w)|(?<!\w)[xX]D(?!\w)",
    "wink": r";[-o^']?[)\]D]",
    "sad": r"[:=][-o^]?[(\[{](?!3)",
    "cry": r":'-?[(\[]|;-?[(\[]|T_T",
    "tongue": r"[:=;][-o^']?[pP](?!\w)",
    "surprise": r"[:=][-o^']?[oO0](?!\w)",
    "unsure": r"(?<![\w:])[:=][-o^']?[/\\|](?![/\w])",
    "love": r"(?<![<\w])<3+",
    "heartbreak": r"</3",
}
_EMOTICON = re.compile("|".join(f"(?P<{word}>{pattern})" for word, pattern in _EMOTICON_WORDS.items()))
_EMOTICON_HINT = frozenset(":;=(<^T")


@lru_cache(maxsize=1)
def emoji_table() -> dict[int, Optional[str]]:
    """``str.translate`` table: each emoji code point to " its description " (VADER's emoji lexicon).

    Variation selectors and skin-tone modifiers are removed, so a sequence maps like its base emoji.
    """
    table: dict[int, Optional[str]] = {0xFE0E: None, 0xFE0F: None, **{c: None for c in range(0x1F3FB, 0x1F400)}}
    # A sequence's base is what is left without the code points already in the table; dropping them
    # with str.translate rather than char by char makes building the table (at every load) 3x faster.
    dropped: dict[int, None] = dict.fromkeys(table)
    lines = resources.files(RESOURCES).joinpath(EMOJI_LEXICON).read_text(encoding="utf-8").splitlines()
    for line in lines:
        emoji, _, description = line.partition("\t")
        base = emoji.translate(dropped) if len(emoji) > 1 else emoji
        if len(base) == 1 and description and ord(base) not in table:
            table[ord(base)] = f" {description.strip()} "
            dropped[ord(base)] = None
    return table


def _split_hashtag(match: re.Match[str]) -> str:
    tag = match.group(1)
    parts = _CAMEL_PARTS.findall(tag)
    split = " ".join(parts)
    # "#fail" -> "fail"; "#NeverAgain" -> "NeverAgain (Never Again)": the tag itself and its words
    return tag if len(parts) <= 1 or split.replace(" ", "") != tag else f"{tag} {split}"


def _emoticon_word(match: re.Match[str]) -> str:
    return f" {match.lastgroup} "


class SocialNormalizer:
    """The preprocessor of every vectorizer: social-media normalisation, then lower case and accents.

    Steps (each can be left out, to measure what it buys; bench/quality.py does):
    ``entities`` ``&amp;`` -> ``&``; ``urls`` -> ``xxurl``; ``mentions`` ``@name`` -> ``xxuser``;
    ``hashtags`` ``#fail`` -> ``fail``, ``#NeverAgain`` -> ``NeverAgain Never Again``;
    ``emoji`` -> their description ("face with tears of joy"); ``emoticons`` ``:)`` -> ``smile``;
    ``elongation`` ``soooo`` -> ``soo``; ``punctuation`` ``!!!!`` -> ``!!``.
    Then ``lowercase`` and ``strip_accents`` as scikit-learn's own preprocessing does them, which a
    custom preprocessor replaces.
    """

    def __init__(self, steps: Iterable[str] = SOCIAL_STEPS, lowercase: bool = True, strip_accents: Optional[str] = "unicode") -> None:
        self.steps = tuple(s for s in SOCIAL_STEPS if s in set(steps))
        unknown = set(steps) - set(SOCIAL_STEPS)
        if unknown:
            raise ValueError(f"unknown normalisation steps: {', '.join(sorted(unknown))}")
        if strip_accents not in ACCENT_FUNCTIONS:
            raise ValueError(f"unknown strip_accents {strip_accents!r}")
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self._accents = ACCENT_FUNCTIONS[strip_accents]
        on = set(self.steps)
        self._entities, self._urls, self._mentions = "entities" in on, "urls" in on, "mentions" in on
        self._hashtags, self._emoji, self._emoticons = "hashtags" in on, "emoji" in on, "emoticons" in on
        self._elongation, self._punctuation = "elongation" in on, "punctuation" in on
        # built on the first text that needs it (lru_cached, so once per process): not at every load
        self._emoji_table: Optional[dict[int, Optional[str]]] = None

    def __call__(self, text: str) -> str:
        # each step only runs when its trigger character is there: most texts skip most steps
        if self._entities and "&" in text:
            text = html.unescape(text)
        if self._urls and ("/" in text or "www" in text):
            text = _URL.sub(f" {URL_TOKEN} ", text)
        if self._mentions and "@" in text:
            text = _MENTION.sub(f" {USER_TOKEN} ", text)
        if self._hashtags and "#" in text:
            text = _HASHTAG.sub(_split_hashtag, text)
        if self._emoji and not text.isascii():
            text = text.translate(self._emoji_table or self._load_emoji_table())
        if self._emoticons and not _EMOTICON_HINT.isdisjoint(text):
            text = _EMOTICON.sub(_emoticon_word, text)
        if self._elongation:
            text = _ELONGATED.sub(r"\1\1", text)
        if self._punctuation:
            text = _REPEATED_PUNCTUATION.sub(lambda m: m.group(0)[:2], text)
        if self.lowercase:
            text = text.lower()
        if self._accents is not None:
            text = self._accents(text)
        return text

    def _load_emoji_table(self) -> dict[int, Optional[str]]:
        self._emoji_table = emoji_table()
        return self._emoji_table

    def to_spec(self) -> dict[str, Any]:
        """The exported form the engine rebuilds this preprocessor from."""
        return {"kind": "social", "steps": list(self.steps), "lowercase": self.lowercase, "strip_accents": self.strip_accents}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "SocialNormalizer":
        if spec.get("kind") != "social":
            raise ValueError(f"unknown preprocessor kind {spec.get('kind')!r}")
        return cls(spec["steps"], bool(spec["lowercase"]), spec["strip_accents"])

    def __getstate__(self) -> dict[str, Any]:
        return {"steps": self.steps, "lowercase": self.lowercase, "strip_accents": self.strip_accents}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["steps"], state["lowercase"], state["strip_accents"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"SocialNormalizer(steps={list(self.steps)})"
