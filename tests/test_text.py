import pickle

from sentikit.text import NegationTokenizer


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
