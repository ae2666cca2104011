"""Stages between pipes end together, whatever one of them does, and marks keep first times."""

from __future__ import annotations

from voicechat.marks import Marks, Stage
from voicechat.stages import Pipe, start_stage


def test_items_flow_through_two_stages_in_order_and_the_end_reaches_the_last() -> None:
    words: Pipe[str] = Pipe()
    doubled: Pipe[str] = Pipe(maxsize=1)
    lengths: Pipe[int] = Pipe()
    first = start_stage("double", lambda word: [word, word], words, doubled)
    second = start_stage("measure", lambda word: [len(word)], doubled, lengths)
    for word in ("one", "three"):
        words.put(word)
    words.close()
    assert list(lengths) == [3, 3, 5, 5]
    first.join(timeout=5)
    second.join(timeout=5)
    assert not first.is_alive() and not second.is_alive()


def test_a_failing_stage_drains_its_inbox_and_still_ends_the_next() -> None:
    inbox: Pipe[int] = Pipe(maxsize=1)
    outbox: Pipe[int] = Pipe()
    errors: list[str] = []

    def fail_on_two(n: int) -> list[int]:
        if n == 2:
            raise RuntimeError("voice gone")
        return [n * 10]

    stage = start_stage(
        "fails", fail_on_two, inbox, outbox, on_error=lambda e: errors.append(str(e))
    )
    for n in range(1, 50):  # a full one-item pipe would block here if nobody read it
        inbox.put(n)
    inbox.close()
    stage.join(timeout=5)
    assert not stage.is_alive()
    assert list(outbox) == [10] and errors == ["voice gone"]


def test_the_end_runs_once_the_inbox_is_closed() -> None:
    inbox: Pipe[int] = Pipe()
    order: list[str] = []

    def note(n: int) -> list[None]:
        order.append(f"item {n}")
        return []

    stage = start_stage("ends", note, inbox, on_end=lambda: order.append("end"))
    inbox.put(1)
    inbox.close()
    stage.join(timeout=5)
    assert order == ["item 1", "end"]


def test_marks_keep_the_first_time_and_count_from_their_start() -> None:
    marks = Marks(start=100.0)
    assert marks.mark(Stage.FIRST_TOKEN, at=100.25)
    assert not marks.mark(Stage.FIRST_TOKEN, at=101.0), "the first time counts"
    assert marks.ms(Stage.FIRST_TOKEN) == 250.0
    assert marks.copy(start=100.5).ms(Stage.FIRST_TOKEN) == -250.0
    marks.move(Stage.FIRST_TOKEN, 100.5)
    assert marks.ms(Stage.FIRST_TOKEN) == 500.0
    saved = marks.as_dict()
    assert saved["first_token_ms"] == 500 and saved["first_audio_ms"] is None
    assert list(saved) == [f"{stage.value}_ms" for stage in Stage]
