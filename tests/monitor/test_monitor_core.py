"""The pure core: rolling windows, the alert state machine, line parsing, and the run loop without I/O."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from sentikit.errors import InvalidInputError
from sentikit.monitor import (
    Alert,
    BadLine,
    InputFormat,
    LineParser,
    MonitorConfig,
    Record,
    Recovery,
    Status,
    WindowMonitor,
    parse_timestamp,
    run_monitor,
)

POS, NEG = 0.9, 0.1


def feed(core: WindowMonitor, scores: list[float], times: list[float] | None = None) -> list[tuple[int, str]]:
    """Add scores in order; return (position, event kind) for every event."""
    events = []
    for index, score in enumerate(scores):
        when = times[index] if times else float(index)
        event = core.add(Record(text=f"t{index}", line=index + 1, time=when, timestamped=times is not None), score)
        if event is not None:
            events.append((event.position, event.kind))
    return events


def test_count_window_alerts_once_at_the_crossing_and_recovers_once() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.45, window=10))
    # Full window of positives, then negatives: after k negatives the mean is (9 - 0.8k)/10,
    # first below 0.45 at k=6 (text 36). Back up: (1 + 0.8k)/10 >= 0.45 first at k=5 (text 65).
    events = feed(core, [POS] * 30 + [NEG] * 30 + [POS] * 30)
    assert events == [(36, "alert"), (65, "recovery")]
    assert (core.alerts, core.recoveries, core.state) == (1, 1, "ok")


def test_no_alert_storm_while_the_mean_stays_low() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.45, window=10))
    events = feed(core, [POS] * 10 + [NEG] * 500 + [0.3, 0.44, 0.2] * 50)
    assert events == [(16, "alert")]
    assert core.state == "alert"


def test_recover_above_adds_hysteresis() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.45, recover_above=0.75, window=10))
    # (1 + 0.8k)/10 >= 0.75 first at k=9: 9 positives after the 30 negatives.
    events = feed(core, [POS] * 30 + [NEG] * 30 + [POS] * 30)
    assert events == [(36, "alert"), (69, "recovery")]


def test_flapping_around_the_threshold_alerts_again_only_after_recovering() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.5, window=1, min_count=1))
    events = feed(core, [0.6, 0.4, 0.3, 0.6, 0.7, 0.2])
    assert events == [(2, "alert"), (4, "recovery"), (6, "alert")]


def test_min_count_holds_alerts_until_the_window_has_enough_texts() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.5, window=100, min_count=5))
    events = feed(core, [NEG] * 10)
    assert events == [(5, "alert")]
    # Default min_count for a count window is the whole window.
    core = WindowMonitor(MonitorConfig(alert_below=0.5, window=8))
    assert feed(core, [NEG] * 10) == [(8, "alert")]


def test_time_window_uses_event_timestamps() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.45, window_seconds=60, min_count=3))
    times = [10.0 * i for i in range(30)]
    # A text every 10 s; a 60 s window holds 6 texts: (5.4 - 0.8k)/6 < 0.45 first at k=4 negatives.
    assert feed(core, [POS] * 20 + [NEG] * 10, times) == [(24, "alert")]
    assert core.count == 6 and core.stats().span_seconds == 50.0
    # Quiet for 1000 s: the first text after the gap is alone in the window (1 < min_count),
    # so it cannot recover on its own; the third one can.
    later = [1290.0 + i for i in range(3)]
    assert feed_more(core, [POS] * 3, later) == [(33, "recovery")]
    assert core.count == 3


def feed_more(core: WindowMonitor, scores: list[float], times: list[float]) -> list[tuple[int, str]]:
    events = []
    for score, when in zip(scores, times):
        event = core.add(Record(text="x", line=0, time=when, timestamped=True), score)
        if event is not None:
            events.append((event.position, event.kind))
    return events


def test_time_window_places_late_texts_by_event_time_and_drops_expired_ones() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.1, window_seconds=60, min_count=1))
    feed_more(core, [POS, POS, POS], [100.0, 130.0, 150.0])
    feed_more(core, [NEG], [120.0])  # late, but inside the window
    assert [item[0] for item in core._items] == [100.0, 120.0, 130.0, 150.0]
    feed_more(core, [NEG], [80.0])  # older than the whole window: counted, not windowed
    assert core.count == 4 and core.position == 5
    feed_more(core, [POS], [181.0])  # evicts 100 and 120
    assert [item[0] for item in core._items] == [130.0, 150.0, 181.0]


def test_arrival_time_window_shrinks_while_idle() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.45, window_seconds=30, min_count=2))
    for index in range(4):
        core.add(Record(text="bad", line=index + 1, time=1000.0 + index), NEG)
    assert core.state == "alert"
    assert core.expire(1020.0) is None and core.count == 4
    assert core.expire(1032.5) is None and core.count == 1  # texts at 1000..1002 expired
    core.add(Record(text="good", line=5, time=1033.0), POS)
    event = core.add(Record(text="good", line=6, time=1034.0), POS)
    assert isinstance(event, Recovery)  # (0.1 + 0.9 + 0.9) / 3 >= 0.45


def test_alert_carries_stats_samples_and_model() -> None:
    core = WindowMonitor(MonitorConfig(alert_below=0.5, window=4, samples=2), model={"reference": "sentiment:3"})
    scores = [0.8, 0.3, 0.05, 0.2]
    alert = None
    for index, score in enumerate(scores):
        alert = core.add(Record(text=f"text {index}", line=index + 10, time=1_700_000_000.0 + index, id=f"id{index}"), score) or alert
    assert isinstance(alert, Alert)
    assert (alert.position, alert.line, alert.mean) == (4, 13, pytest.approx(0.3375))
    assert alert.window.count == 4 and alert.window.min == 0.05 and alert.window.negative == 3
    assert [(s.text, s.score, s.id) for s in alert.samples] == [("text 2", 0.05, "id2"), ("text 3", 0.2, "id3")]
    assert alert.model == {"reference": "sentiment:3"}
    payload = json.loads(json.dumps(alert.to_dict()))
    assert payload["event"] == "alert" and payload["window"]["mean"] == 0.3375
    assert payload["time"] == "2023-11-14T22:13:23.000Z"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alert_below": 0.5}, "exactly one of"),
        ({"alert_below": 0.5, "window": 10, "window_seconds": 5}, "exactly one of"),
        ({"alert_below": 1.5, "window": 10}, "--alert-below must be between 0 and 1"),
        ({"alert_below": float("nan"), "window": 10}, "--alert-below must be between 0 and 1"),
        ({"alert_below": 0.5, "threshold": float("nan"), "window": 10}, "--threshold must be between 0 and 1"),
        ({"alert_below": 0.5, "recover_above": float("inf"), "window": 10}, "--recover-above must be between 0 and 1"),
        ({"alert_below": 0.5, "window_seconds": float("nan")}, "--window-seconds must be positive"),
        ({"alert_below": 0.5, "recover_above": 0.4, "window": 10}, "--recover-above must be between"),
        ({"alert_below": 0.5, "window": 10, "min_count": 11}, "no alert could ever fire"),
        ({"alert_below": 0.5, "window": 0}, "--window must be at least 1"),
        ({"alert_below": 0.5, "window_seconds": -1}, "--window-seconds must be positive"),
    ],
)
def test_config_rejects_impossible_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        MonitorConfig(**kwargs)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01T10:00:00Z", 1714557600.0),
        ("2024-05-01T12:00:00+02:00", 1714557600.0),
        ("2024-05-01T10:00:00.250", 1714557600.25),
        ("2024-05-01 10:00:00", 1714557600.0),
        (1714557600, 1714557600.0),
        (1714557600.5, 1714557600.5),
        ("1714557600", 1714557600.0),
        (1714557600250, 1714557600.25),  # epoch milliseconds
    ],
)
def test_parse_timestamp_accepts_iso_and_epoch(value: object, expected: float) -> None:
    assert parse_timestamp(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["yesterday", "", True, None, [1], "nan"])
def test_parse_timestamp_rejects_the_rest(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_line_parser_reads_plain_and_json_lines_and_reports_bad_ones() -> None:
    plain = LineParser(InputFormat())
    assert plain.parse(b"Great food\r", 5.0) == Record(text="Great food", line=1, time=5.0)
    assert plain.parse(b"   ", 5.0) is None  # blank lines are skipped, not bad
    assert plain.parse(b'{"looks": "like json"}', 5.0).text == '{"looks": "like json"}'  # type: ignore[union-attr]

    parser = LineParser(InputFormat(text_field="body", time_field="ts", id_field="uuid"))
    good = parser.parse(b'{"body": "Awful", "ts": "2024-05-01T10:00:00Z", "uuid": 7}', 1.0)
    assert good == Record(text="Awful", line=1, time=1714557600.0, id="7", timestamped=True)
    untimed = parser.parse(b'{"body": "Fine"}', 9.0)
    assert untimed == Record(text="Fine", line=2, time=9.0)
    bad = [parser.parse(raw, 1.0) for raw in (
        b"not json", b"[1, 2]", b'{"text": "wrong field"}', b'{"body": 3}', b'{"body": "  "}',
        b'{"body": "x", "ts": "soon"}', b'{"body": "caf\xe9"}',
    )]
    assert all(isinstance(b, BadLine) for b in bad)
    assert [b.reason for b in bad] == [  # type: ignore[union-attr]
        "invalid JSON (Expecting value)", "not a JSON object", "no 'body' field", "'body' is not a string",
        "'body' is empty", "'ts' is not ISO 8601 or epoch seconds", "not valid UTF-8 (byte 14)",
    ]
    assert [b.line for b in bad] == [3, 4, 5, 6, 7, 8, 9]  # type: ignore[union-attr]


def test_run_monitor_on_real_sentences(uci_texts: tuple[list[str], list[str]], label_scorer) -> None:
    positives, negatives = uci_texts
    lines = positives[:40] + negatives[:40] + positives[40:80]
    data = [line.encode() for line in lines]
    data.insert(50, b"\xff\xfe broken bytes")  # a bad line in the middle
    events: list = []
    summary = run_monitor(iter([data]), label_scorer, MonitorConfig(alert_below=0.45, window=20),
                          on_event=events.append, status_interval=None, batch_size=16)
    kinds = [(e.kind, getattr(e, "position", None)) for e in events]
    # Window of 20: (18 - 0.8k)/20 < 0.45 at k=12 negatives -> text 52; (2 + 0.8k)/20 >= 0.45 at k=9 -> text 89.
    assert kinds == [("bad_line", None), ("alert", 52), ("recovery", 89)]
    alert = events[1]
    assert all(sample.text in negatives for sample in alert.samples) and len(alert.samples) == 5
    assert events[0].line == 51
    assert (summary.texts, summary.bad_lines, summary.alerts, summary.recoveries) == (120, 1, 1, 1)
    assert summary.final_mean == pytest.approx(0.9)
    assert max(label_scorer.calls) <= 16  # micro-batches respect the batch size
    assert not summary.interrupted and summary.window.count == 20 and summary.state == "ok"


def test_run_monitor_returns_a_summary_on_ctrl_c(label_scorer, uci_texts) -> None:
    positives, _ = uci_texts

    def source():
        yield [t.encode() for t in positives[:10]]
        raise KeyboardInterrupt

    summary = run_monitor(source(), label_scorer, MonitorConfig(alert_below=0.45, window=5), status_interval=None)
    assert summary.interrupted and summary.texts == 10 and summary.alerts == 0


def test_iso_event_times_in_json_lines_drive_the_time_window(label_scorer, uci_texts) -> None:
    positives, negatives = uci_texts
    start = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc).timestamp()
    rows = []
    for minute in range(60):  # one text a minute: positive for 30 minutes, then negative
        text = positives[minute] if minute < 30 else negatives[minute]
        stamp = datetime.fromtimestamp(start + 60 * minute, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        rows.append(json.dumps({"text": text, "timestamp": stamp, "id": f"m{minute}"}).encode())
    events: list = []
    run_monitor(iter([rows]), label_scorer, MonitorConfig(alert_below=0.45, window_seconds=600, min_count=5),
                on_event=events.append, status_interval=None)
    alert = next(e for e in events if isinstance(e, Alert))
    # A 10-minute window holds 10 texts: (9 - 0.8k)/10 < 0.45 first at k=6 -> minute 35 (text 36).
    assert (alert.position, alert.time, alert.window.count) == (36, "2024-05-01T09:35:00.000Z", 10)
    assert alert.window.start == "2024-05-01T09:26:00.000Z"
    assert {s.id for s in alert.samples} <= {f"m{m}" for m in range(30, 36)}


def test_status_events_report_the_window_between_batches(label_scorer, uci_texts) -> None:
    positives, negatives = uci_texts
    chunks = [[t.encode() for t in positives[:6]], [], [t.encode() for t in negatives[:4]]]
    events: list = []
    run_monitor(iter(chunks), label_scorer, MonitorConfig(alert_below=0.2, window=8),
                on_event=events.append, status_interval=0)
    statuses = [(e.state, e.texts, e.window.count, e.window.negative) for e in events if isinstance(e, Status)]
    assert statuses == [("warming", 6, 6, 0), ("warming", 6, 6, 0), ("ok", 10, 8, 4)]
