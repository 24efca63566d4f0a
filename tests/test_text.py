import pickle

import pytest

from sentikit.engine.lexicon import LexiconPrior, vader_lexicon
from sentikit.engine.text import SOCIAL_STEPS, NegationTokenizer, SocialNormalizer


def test_negation_marks_words_until_clause_end_or_scope() -> None:
    tokenize = NegationTokenizer(scope=2)
    assert tokenize("this is not good at all, but fine!") == ["this", "is", "not", "NOT_good", "NOT_at", "all", "but", "fine", "!"]
    assert tokenize("it does n't work . great") == ["it", "does", "n't", "NOT_work", "great"]
    assert tokenize("i don't like it?") == ["i", "don't", "NOT_like", "NOT_it", "?"]
    assert tokenize("") == []


def test_tokenizer_pickles_and_exports_its_settings() -> None:
    tokenize = NegationTokenizer(scope=4)
    clone = pickle.loads(pickle.dumps(tokenize))
    assert clone("never again") == tokenize("never again") == ["never", "NOT_again"]
    assert NegationTokenizer.from_spec(tokenize.to_spec()).scope == 4


def test_negation_words_only_as_whole_tokens() -> None:
    tokenize = NegationTokenizer(scope=5)
    plain = "great, fast delivery! would buy again? yes; 10/10: nothing else to say"
    assert tokenize(plain) == ["great", "fast", "delivery", "!", "would", "buy", "again", "?", "yes", "10", "10",
                               "nothing", "NOT_else", "NOT_to", "NOT_say"]
    assert tokenize("great, fast delivery! would buy again") == ["great", "fast", "delivery", "!", "would", "buy", "again"]
    assert tokenize("notable knots, nonetheless") == ["notable", "knots", "nonetheless"]


def test_social_normalizer_steps() -> None:
    normalize = SocialNormalizer()
    assert normalize("@united thanks").split() == ["xxuser", "thanks"]
    assert normalize("see https://t.co/AbC and www.x.com/a").split() == ["see", "xxurl", "and", "xxurl"]
    assert normalize("#fail #NeverAgain").split() == ["fail", "neveragain", "never", "again"]
    assert normalize("Sooooo gooood!!!!").split() == ["soo", "good!!"]
    assert normalize("Tom &amp; Jerry &lt;3").split() == ["tom", "&", "jerry", "love"]
    assert normalize("ok :) :( :D ;) :'( <3").split() == ["ok", "smile", "sad", "laugh", "wink", "cry", "love"]
    assert normalize("😂👍🏽").split() == ["face", "with", "tears", "of", "joy", "thumbs", "up"]
    assert normalize("Café 1000 times") == "cafe 1000 times"  # digits are not elongations; accents go
    # plain prose is left alone (but lower-cased)
    assert normalize("The host was lovely (see below): 8) great") == "the host was lovely (see below): 8) great"


def test_social_normalizer_steps_can_be_left_out_and_it_pickles() -> None:
    only = SocialNormalizer(["mentions"], lowercase=False, strip_accents=None)
    assert only("@Bob Sooo :)") == " xxuser  Sooo :)"
    assert SocialNormalizer.from_spec(only.to_spec())("@Bob") == only("@Bob")
    clone = pickle.loads(pickle.dumps(SocialNormalizer()))
    assert clone("#BestDay") == SocialNormalizer()("#BestDay") and clone.steps == SOCIAL_STEPS
    with pytest.raises(ValueError, match="unknown normalisation steps"):
        SocialNormalizer(["shouting"])


def test_lexicon_prior_is_negation_aware_and_its_shares_sum_to_the_features() -> None:
    prior = LexiconPrior(vader_lexicon(), scope=5)
    assert prior.valences("good") == [("good", 1.9)]
    assert prior.valences("not good") == [("NOT_good", pytest.approx(-0.74 * 1.9))]
    total, positive, negative = prior.features("lovely flat but awful host")
    assert total > 0 and positive > 0 and negative > 0
    shares = prior.shares("lovely flat but awful host")
    assert [t for t, _ in shares] == ["lovely", "awful"]
    for k, value in enumerate((total, positive, negative)):
        assert sum(s[k] for _, s in shares) == pytest.approx(value, abs=1e-12)
    assert prior.features("the flat") == (0.0, 0.0, 0.0)
    # features() looks each token up once; valences() spells the rule out: they agree
    for text in ("not bad at all, lovely", "never good never bad", "awful. not awful", "", "no no no great"):
        assert prior.features(text) == prior._features([v for _, v in prior.valences(text)])


def test_emoji_table_is_each_sequences_base_code_point() -> None:
    """The table as its docstring defines it, built char by char (the fast build must agree)."""
    from importlib import resources

    from sentikit.engine.text import EMOJI_LEXICON, RESOURCES, emoji_table

    expected: dict[int, str | None] = {0xFE0E: None, 0xFE0F: None, **{c: None for c in range(0x1F3FB, 0x1F400)}}
    for line in resources.files(RESOURCES).joinpath(EMOJI_LEXICON).read_text(encoding="utf-8").splitlines():
        emoji, _, description = line.partition("\t")
        base = "".join(c for c in emoji if ord(c) not in expected)
        if len(base) == 1 and description and ord(base) not in expected:
            expected[ord(base)] = f" {description.strip()} "
    assert emoji_table() == expected and len(expected) > 1000
