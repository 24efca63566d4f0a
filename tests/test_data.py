"""sentikit.data: formats, labels, ratings, errors, stdin, the shared datasets and the bundled corpus."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sentikit.data import (
    Dataset,
    SourceFile,
    default_training_files,
    detect_format,
    iter_records,
    load_dataset,
)
from sentikit.errors import DataError, ExitCode, InvalidInputError

from _datasets import SHARED_DATASETS, needs_shared

FIXTURES = Path(__file__).parent / "fixtures"
REPO_DATA = Path(__file__).resolve().parents[1] / "data"


def fx(name: str) -> str:
    return str(FIXTURES / name)


def load(*names: str, **kwargs: Any) -> Dataset:
    return load_dataset([fx(n) for n in names], **kwargs)


def data_error(*names: str, **kwargs: Any) -> str:
    with pytest.raises(DataError) as info:
        load(*names, **kwargs)
    assert info.value.exit_code == ExitCode.USAGE
    return str(info.value)


# --- formats --------------------------------------------------------------------------------------


def test_csv_with_quoted_commas_quotes_and_line_breaks() -> None:
    ds = load("reviews.csv")
    assert len(ds) == 10
    assert ds.texts[:4] == [
        "Great value, works perfectly",
        "Broke after two days",
        'The "premium" case is flimsy',
        "Lovely staff.\nWould stay again.",
    ]
    assert ds.labels == [1, 0, 0, 1, 0, 1, 0, 1, 0, 1]
    assert ds.origins == [0] * 10
    raw = (FIXTURES / "reviews.csv").read_bytes()
    assert ds.files == [
        SourceFile(fx("reviews.csv"), hashlib.sha256(raw).hexdigest(), 10, 0, "csv", "text", "label")
    ]


def test_tsv_with_header_crlf_and_multiline_quoted_field() -> None:
    ds = load("reviews.tsv")
    assert len(ds) == 10
    assert ds.texts[1] == 'Dull.\n\tTwo hours I will never get back, and a "twist" you see coming'
    assert ds.labels == [1, 0] * 5
    assert (ds.files[0].format, ds.files[0].text_column, ds.files[0].label_column) == ("tsv", "Sentence", "Label")


def test_jsonl_with_booleans_numbers_and_words() -> None:
    ds = load("reviews.jsonl")
    assert ds.labels == [1, 0] * 5
    assert ds.texts[6] == "Très bien, merci"
    assert (ds.files[0].format, ds.files[0].text_column, ds.files[0].label_column) == ("jsonl", "review", "sentiment")


def test_headerless_splits_on_last_tab_and_keeps_quotes() -> None:
    ds = load("reviews_headerless.txt")
    assert len(ds) == 10
    assert ds.texts[2] == 'The ear "clip" is not very comfortable at all.'
    assert ds.texts[3] == 'Looks great and is strong."'
    assert ds.texts[4] == 'I can barely hear on it and keep saying "what?'
    assert ds.texts[6] == "A tab\tinside the text, still fine."
    assert ds.texts[7] == "Waste of 13 bucks.  "
    assert ds.labels == [0, 1, 0, 1, 0, 1, 1, 0, 1, 0]
    assert (ds.files[0].format, ds.files[0].text_column, ds.files[0].label_column) == ("tsv-headerless", "0", "1")


def test_gzip_by_extension_and_by_magic_bytes(tmp_path: Path) -> None:
    plain, packed = load("reviews.csv"), load("reviews.csv.gz")
    assert (packed.texts, packed.labels) == (plain.texts, plain.labels)
    assert packed.files[0].format == "csv"
    assert packed.files[0].sha256 == hashlib.sha256((FIXTURES / "reviews.csv.gz").read_bytes()).hexdigest()
    disguised = tmp_path / "reviews.csv"  # gzip content without the .gz name
    shutil.copy(FIXTURES / "reviews.csv.gz", disguised)
    assert load_dataset([disguised]).texts == plain.texts


def test_utf8_bom_and_utf16_with_bom() -> None:
    assert load("bom.csv").files[0].text_column == "text"
    ds = load("utf16.tsv")
    assert ds.texts[0] == "café 0 😀"
    assert ds.labels == [0, 1] * 5


def test_extra_columns_like_the_corpus_source_column_are_ignored() -> None:
    ds = load("corpus_like.tsv")
    assert ds.texts[0] == "row 0"
    assert (ds.files[0].text_column, ds.files[0].label_column) == ("text", "label")


def test_trailing_empty_fields_and_empty_rows_from_spreadsheets() -> None:
    ds = load("trailing_commas.csv")
    assert (len(ds), ds.files[0].skipped) == (10, 0)


def test_blank_text_rows_are_skipped_and_counted() -> None:
    ds = load("blank_text.csv")
    assert (len(ds), ds.files[0].rows, ds.files[0].skipped) == (10, 10, 2)
    assert "" not in [t.strip() for t in ds.texts]


def test_column_overrides_exact_and_case_insensitive() -> None:
    ds = load("custom_columns.csv", text_column="comment", label_column="VERDICT")
    assert ds.texts[0] == "comment 1"
    assert ds.labels[:2] == [1, 0]
    assert (ds.files[0].text_column, ds.files[0].label_column) == ("comment", "verdict")


@pytest.mark.parametrize(
    ("name", "first_bytes", "expected"),
    [
        ("a.csv", b"text,label\n", "csv"),
        ("a.csv.gz", b"text,label\n", "csv"),
        ("a.tsv", b"sentence\tlabel\n", "tsv"),
        ("a.tsv", b"great\t1\n", "tsv-headerless"),
        ("a.txt", b"great film\tpositive\n", "tsv-headerless"),
        ("a.txt", b"text\t1\n", "tsv"),  # a text column name first: a header, whatever the last name
        ("a.txt", b"review\tstars\n", "tsv"),
        ("a.jsonl", b'{"text": "x", "label": 1}\n', "jsonl"),
        ("-", b'  {"text": "x", "label": 1}\n', "jsonl"),
        ("-", b"\xef\xbb\xbftext,label\n", "csv"),
        ("data", b"\n\ngood\t0\n", "tsv-headerless"),
    ],
)
def test_detect_format(name: str, first_bytes: bytes, expected: str) -> None:
    assert detect_format(Path(name), first_bytes) == expected


# --- labels and ratings ---------------------------------------------------------------------------


def test_label_normalisation_table() -> None:
    ds = load("label_variants.csv")
    with open(FIXTURES / "label_variants.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 17
    assert ds.labels == [int(row["expected"]) for row in rows]


@pytest.mark.parametrize("value", ["yes", "2x", "nan", "inf", "-", "positive-ish"])
def test_unrecognised_labels_are_errors(tmp_path: Path, value: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(f"text,label\ngood,1\nodd,{value}\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset([path])
    assert str(info.value) == (
        f"{path}, line 3: unknown label {value!r} in column 'label' "
        "(accepted: 0/1, negative/positive, neg/pos, false/true, or numeric ratings with --negative-max/--positive-min)"
    )


def test_five_star_ratings_default_thresholds_drop_the_middle() -> None:
    ds = load("stars.csv")
    # stars 1,2,3,4,5,5,4,3,2,1,5,1 -> the two 3s dropped
    assert ds.labels == [0, 0, 1, 1, 1, 1, 0, 0, 1, 0]
    assert ds.texts[2] == "review number 4"
    assert (ds.files[0].rows, ds.files[0].skipped, ds.files[0].label_column) == (10, 2, "stars")


def test_explicit_thresholds() -> None:
    ds = load("ratings_10.csv", negative_max=4, positive_min=7, min_rows=1)
    # ratings 1,10,7,3,9,5,2,8,6,4,10,1: 5 and 6 dropped
    assert ds.labels == [0, 1, 1, 0, 1, 0, 1, 0, 1, 0]
    assert (ds.files[0].rows, ds.files[0].skipped) == (10, 2)
    stars = load("stars.csv", negative_max=1, positive_min=5, min_rows=1)
    assert stars.labels == [0, 1, 1, 0, 1, 0]


def test_thresholds_leave_binary_files_alone() -> None:
    ds = load("reviews.csv", "stars.csv", negative_max=2, positive_min=4)
    assert ds.labels[:10] == load("reviews.csv").labels


def test_ratings_without_thresholds_are_an_error() -> None:
    assert data_error("ratings_10.csv") == (
        f"{fx('ratings_10.csv')}, line 3: label '10' in column 'rating' is a rating, not 0/1 (values from 1 to 10): "
        "pass --negative-max and --positive-min (ratings in between are dropped; only a 1-5 star scale has a "
        "default: 1-2 negative, 4-5 positive)"
    )


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([1, 2, 1, 2], "label '2' in column 'label' is a rating, not 0/1 (values from 1 to 2)"),
        ([4, 5, 5, 4], "label '4' in column 'label' is a rating, not 0/1 (values from 4 to 5)"),
        ([0, 1, 2, 1], "label '2' in column 'label' is a rating, not 0/1 (values from 0 to 2)"),
        ([1, -1, 1, -1], "label '-1' in column 'label' is a rating, not 0/1 (values from -1 to 1)"),
    ],
)
def test_only_plain_star_scales_have_a_default(tmp_path: Path, labels: list[int], message: str) -> None:
    path = tmp_path / "coded.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{v}\n" for i, v in enumerate(labels)), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset([path], min_rows=1)
    line = 2 + next(i for i, v in enumerate(labels) if v not in (0, 1))
    assert str(info.value).startswith(f"{path}, line {line}: {message}: pass --negative-max and --positive-min")
    coded = load_dataset([path], negative_max=min(labels), positive_min=max(labels), min_rows=1, require_both_classes=False)
    assert len(coded) == sum(v in (min(labels), max(labels)) for v in labels)


def test_tab_separated_file_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Text\tSentiment\nnice, really\tpos\nbad\tneg\n", encoding="utf-8")
    ds = load_dataset([path], min_rows=1)
    assert (ds.texts, ds.labels, ds.files[0].format) == (["nice, really", "bad"], [1, 0], "tsv")


def test_semicolon_separated_csv_hint(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("text;label\ngood;1\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset([path])
    assert str(info.value) == (
        f"{path}: no text column (found: 'text;label'); name it with --text-column; "
        "the file looks semicolon-separated: save it as comma-separated CSV"
    )


@pytest.mark.parametrize(
    ("negative_max", "positive_min", "message"),
    [
        (2, None, "give both --negative-max and --positive-min to binarise ratings"),
        (None, 4, "give both --negative-max and --positive-min to binarise ratings"),
        (4, 4, "--negative-max (4) must be below --positive-min (4)"),
        (5, 2.5, "--negative-max (5) must be below --positive-min (2.5)"),
    ],
)
def test_inconsistent_thresholds(negative_max: Any, positive_min: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        load("stars.csv", negative_max=negative_max, positive_min=positive_min)
    assert str(info.value) == message


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "{path}: empty file"),
        ("blank_lines.csv", "{path}: empty file"),
        ("header_only.csv", "{path}: no data rows after the header"),
        (
            "custom_columns.csv",
            "{path}: no text column (found: 'id', 'comment', 'verdict'); name it with --text-column",
        ),
        (
            "no_header.csv",
            "{path}: no text column (found: 'great movie', '1'); name it with --text-column; "
            "the first line looks like data: add a header row such as text,label",
        ),
        (
            "latin1.csv",
            "{path}, line 3: not UTF-8 (byte 0xe9 at column 4); it looks like Windows-1252/Latin-1: "
            "convert it with iconv -f WINDOWS-1252 -t UTF-8",
        ),
        (
            "unknown_label.csv",
            "{path}, line 4: unknown label 'meh' in column 'label' (accepted: 0/1, negative/positive, neg/pos, "
            "false/true, or numeric ratings with --negative-max/--positive-min)",
        ),
        ("empty_label.csv", "{path}, line 3: empty label in column 'label'"),
        (
            "one_class.csv",
            "only one class: all 12 rows in {path} are positive (label 1); "
            "training needs both negative and positive examples",
        ),
        ("too_few.csv", "too few rows: 3 usable in {path} (need at least 10)"),
        (
            "malformed.jsonl",
            "{path}, line 3: malformed JSON (Expecting ',' delimiter at column 28); expected one JSON object per line",
        ),
        ("not_object.jsonl", "{path}, line 2: expected a JSON object, found an array"),
        ("missing_key.jsonl", "{path}, line 3: no 'label' key (found: 'text')"),
        (
            "unterminated_quote.csv",
            "{path}, line 3: malformed CSV (unexpected end of data); check the quotes in this row",
        ),
        ("extra_field.csv", "{path}, line 3: 3 fields but the header has 2 (an unquoted comma in the text?)"),
        (
            "array.json",
            "{path}: a JSON array; sentikit reads JSON Lines (one object per line), e.g. jq -c '.[]' {path}",
        ),
        ("no_tab.txt", "{path}, line 3: no tab; expected text<TAB>label"),
        (
            "truncated.csv.gz",
            "{path}: corrupt or truncated gzip data (Compressed file ended before the end-of-stream marker was reached)",
        ),
        ("spreadsheet.xlsx", "{path}: a spreadsheet or archive, not a text file: export it as CSV (UTF-8) first"),
    ],
)
def test_bad_inputs(name: str, message: str) -> None:
    assert data_error(name) == message.format(path=fx(name))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert data_error("nope.csv") == f"{fx('nope.csv')}: no such file"
    with pytest.raises(DataError) as info:
        load_dataset([tmp_path])
    assert str(info.value) == f"{tmp_path}: a directory, not a file: pass the data files inside it"


def test_missing_override_column() -> None:
    assert data_error("reviews.csv", label_column="stars") == (
        f"{fx('reviews.csv')}: no column 'stars' (found: 'id', 'text', 'label'); check --label-column"
    )


def test_too_few_rows_mentions_skipped_rows() -> None:
    assert data_error("stars.csv", min_rows=11) == (
        f"too few rows: 10 usable in {fx('stars.csv')} (need at least 11; 2 skipped: blank text or middle ratings)"
    )


def test_one_class_and_min_rows_can_be_relaxed() -> None:
    ds = load("one_class.csv", "too_few.csv", require_both_classes=False, min_rows=1)
    assert len(ds) == 15


def test_no_paths() -> None:
    with pytest.raises(DataError, match="^no data files given$"):
        load_dataset([])


# --- several files, stdin -------------------------------------------------------------------------


def test_multiple_files_origins_and_subset() -> None:
    ds = load("reviews.csv", "reviews_headerless.txt", "reviews.jsonl")
    assert len(ds) == 30
    assert ds.origins == [0] * 10 + [1] * 10 + [2] * 10
    assert [f.format for f in ds.files] == ["csv", "tsv-headerless", "jsonl"]
    assert ds.counts() == {0: 15, 1: 15}
    part = ds.subset([25, 0, 12])
    assert part.texts == [ds.texts[25], ds.texts[0], ds.texts[12]]
    assert part.labels == [ds.labels[25], ds.labels[0], ds.labels[12]]
    assert part.origins == [2, 0, 1]
    assert part.files == ds.files
    assert len(part) == 3
    assert ds.subset([]).counts() == {0: 0, 1: 0}


def test_stdin_text_stream() -> None:
    text = (FIXTURES / "reviews.csv").read_text(encoding="utf-8")
    ds = load_dataset(["-"], stdin=io.StringIO(text))
    assert ds.texts == load("reviews.csv").texts
    assert ds.files[0].path == "-"
    assert ds.files[0].sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_stdin_binary_buffer_with_gzip() -> None:
    packed = (FIXTURES / "reviews.csv.gz").read_bytes()
    stdin = io.TextIOWrapper(io.BytesIO(packed), encoding="utf-8")
    ds = load_dataset(["-"], stdin=stdin)
    assert (len(ds), ds.files[0].format) == (10, "csv")


def test_stdin_mixed_with_files() -> None:
    stdin = io.StringIO("great\t1\nawful\t0\n")
    ds = load_dataset([fx("reviews.csv"), "-"], stdin=stdin)
    assert ds.origins[-2:] == [1, 1]
    assert ds.files[1].format == "tsv-headerless"


def test_stdin_undecodable_bytes() -> None:
    stdin = io.TextIOWrapper(io.BytesIO((FIXTURES / "latin1.csv").read_bytes()), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset(["-"], stdin=stdin)
    assert str(info.value) == (
        "stdin, line 3: not UTF-8 (byte 0xe9 at column 4); it looks like Windows-1252/Latin-1: "
        "convert it with iconv -f WINDOWS-1252 -t UTF-8"
    )


# --- iter_records (score --input) -----------------------------------------------------------------


def test_iter_records_csv_round_trip() -> None:
    fmt, column, records = iter_records(fx("scoring.csv"))
    assert (fmt, column) == ("csv", "text")
    rows = list(records)
    assert [(line, text) for line, _record, text in rows] == [
        (2, "Great, really great"),
        (3, 'She said "wow"'),
        (4, "two\nlines"),
        (6, ""),
        (7, "Très bien"),
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0][1]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(record for _line, record, _text in rows if isinstance(record, dict))
    assert out.getvalue() == (FIXTURES / "scoring.csv").read_text(encoding="utf-8")


def test_iter_records_jsonl_keeps_the_whole_object() -> None:
    fmt, column, records = iter_records(fx("scoring.jsonl"))
    assert (fmt, column) == ("jsonl", "text")
    originals = [json.loads(line) for line in (FIXTURES / "scoring.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [record for _line, record, _text in records] == originals


def test_iter_records_headerless_lists() -> None:
    fmt, column, records = iter_records(fx("scoring_headerless.txt"))
    assert (fmt, column) == ("tsv-headerless", "0")
    assert list(records) == [
        (1, ["Good case", "1"], "Good case"),
        (2, ["no tab on this line"], "no tab on this line"),
        (3, ["Bad case", "0"], "Bad case"),
    ]


def test_iter_records_text_column_override_and_errors() -> None:
    _fmt, column, records = iter_records(fx("custom_columns.csv"), text_column="Comment")
    assert column == "comment"
    assert next(records)[2] == "comment 1"
    with pytest.raises(DataError) as info:
        iter_records(fx("custom_columns.csv"))
    assert str(info.value) == (
        f"{fx('custom_columns.csv')}: no text column (found: 'id', 'comment', 'verdict'); name it with --text-column"
    )
    with pytest.raises(DataError, match=r": empty file$"):
        iter_records(fx("empty.csv"))


def test_iter_records_duplicate_header(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("text,note,note\nhello,a,b\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        iter_records(path)
    assert str(info.value) == f"{path}: duplicate column name 'note' in the header"


class EndlessStdin:
    """A text stream that never ends: iter_records must stream, not read everything first."""

    def __init__(self) -> None:
        self.sent = 0

    def read(self, size: int = -1) -> str:
        if self.sent == 0:
            self.sent += 1
            return "text\n"
        self.sent += 1
        return "".join(f"row {self.sent}-{i}\n" for i in range(100))


def test_iter_records_streams_stdin() -> None:
    stdin = EndlessStdin()
    fmt, column, records = iter_records("-", stdin=stdin)  # type: ignore[arg-type]
    assert (fmt, column) == ("csv", "text")
    first = [next(records) for _ in range(3)]
    assert [text for _line, _record, text in first] == ["row 2-0", "row 2-1", "row 2-2"]
    assert stdin.sent < 1000


# --- shared datasets and the bundled corpus -------------------------------------------------------


@pytest.mark.slow
@needs_shared
@pytest.mark.parametrize(
    ("relative", "rows", "fmt"),
    [
        ("sst2/train.tsv", 67_349, "tsv"),
        ("sst2/dev.tsv", 872, "tsv"),
        ("uci-sentences/amazon_cells_labelled.txt", 1_000, "tsv-headerless"),
        ("uci-sentences/imdb_labelled.txt", 1_000, "tsv-headerless"),
        ("uci-sentences/yelp_labelled.txt", 1_000, "tsv-headerless"),
        *[(f"multi-domain/{d}/{s}.tsv", n, "tsv") for d in ("books", "dvd", "electronics", "kitchen")
          for s, n in (("train", 1_700), ("dev", 300))],
    ],
)
def test_shared_datasets_load_with_the_documented_counts(relative: str, rows: int, fmt: str) -> None:
    ds = load_dataset([SHARED_DATASETS / relative])
    assert (len(ds), ds.files[0].skipped, ds.files[0].format) == (rows, 0, fmt)
    if not relative.startswith("sst2/"):  # UCI and multi-domain are balanced
        assert ds.counts()[0] == ds.counts()[1]


# How fast sst2/train.tsv loads is measured in bench/timing.py (its rows are checked above).


@needs_shared
def test_uci_quotes_survive() -> None:
    ds = load_dataset([SHARED_DATASETS / "uci-sentences" / "amazon_cells_labelled.txt"])
    assert 'The design is very odd, as the ear "clip" is not very comfortable at all.' in ds.texts


def test_default_training_files_is_the_bundled_corpus() -> None:
    files = default_training_files()
    assert files == [(REPO_DATA / "corpus.tsv.gz").resolve()]
    ds = load_dataset(files)
    assert len(ds) == 77_149
    assert ds.counts() == {0: 34_680, 1: 42_469}
    assert (ds.files[0].format, ds.files[0].text_column, ds.files[0].label_column) == ("tsv", "text", "label")


def test_default_training_files_prefers_the_current_directory() -> None:
    local = Path.cwd() / "data" / "corpus.tsv.gz"  # cwd is a fresh temp dir (conftest)
    local.parent.mkdir()
    with gzip.open(local, "wt", encoding="utf-8") as handle:
        handle.write("text\tlabel\tsource\n" + "".join(f"t {i}\t{i % 2}\tmine\n" for i in range(10)))
    assert default_training_files() == [local.resolve()]
