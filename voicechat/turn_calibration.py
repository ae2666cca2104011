"""Calibrating the end of turn's words signal to the language model that is loaded.

How likely a model thinks a message ends at the last word said depends on the model: one
gives "How do I get to Dublin" 0.26 and another 0.9, so no fixed threshold holds. On first
use with a model, every request in `data/requests.txt` is scored whole and cut where it
cannot end. Two thresholds come from the whole ones: below the lower (the highest that
keeps KEEP_COMPLETE of them at or above it) the words say unfinished; from the upper (the
highest that keeps FINISHED_COMPLETE of them) they say finished; between, where only the
least typical whole requests score, they say neither and the take's end is left to the voice
and the silence rule. It is cached per model in voicechat's data folder (`end-of-turn/`), so
later starts read it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from voicechat import paths
from voicechat.fileio import atomic_text_writer

KEEP_COMPLETE = 0.97
"""The share of whole requests the lower threshold must not call unfinished."""
FINISHED_COMPLETE = 0.90
"""The share of whole requests the upper threshold calls finished. Between the two lie the
whole requests a model finds least likely to end, and the words a noisy or cut-off take is
heard as ("Remind me to water." for "Remind me to water the, … plants"): a pause there is
left to the silence rule rather than ended at once."""
SURE_COMPLETE = 0.5
"""The share of whole requests that score at or above the level from which the words are
sure the message is finished (a take judged finished below it waits a little longer)."""
CUT_MARK = " | "


@dataclass(frozen=True)
class Request:
    """A request as said whole, and cut where it cannot end (None for one never cut)."""

    whole: str
    cut: str | None


@dataclass(frozen=True)
class Calibration:
    """The words thresholds chosen for one model.

    threshold: below it the words say unfinished; finished_from: at or above it, finished;
    sure_from: at or above it, finished with no doubt (`end_of_turn.Verdict.doubt`).
    complete_kept: share of whole requests scored at or above `threshold`.
    cut_caught: share of cut requests scored below it (judged unfinished).
    """

    model: str
    threshold: float
    finished_from: float
    sure_from: float
    complete_kept: float
    cut_caught: float
    requests: int
    requests_version: str

    def describe(self) -> str:
        """One line for bench and `config show`."""
        return (
            f"words threshold {self.threshold:.3f} for {self.model}: {self.complete_kept:.0%} "
            f"of {self.requests} whole requests at or above it, {self.cut_caught:.0%} of cut "
            f"ones below; finished from {self.finished_from:.3f}, sure from {self.sure_from:.3f}"
        )


def requests_text() -> str:
    """The shipped request set."""
    return resources.files("voicechat.data").joinpath("requests.txt").read_text("utf-8")


def load_requests(text: str | None = None) -> list[Request]:
    """The requests in `text` (the shipped set by default)."""
    found = []
    for raw in (text if text is not None else requests_text()).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, mark, tail = line.partition(CUT_MARK)
        found.append(Request(f"{head} {tail}" if mark else head, head if mark else None))
    return found


def choose_threshold(whole: list[float], keep: float = KEEP_COMPLETE) -> float:
    """The highest threshold at which at least `keep` of the `whole` scores are at or above it."""
    ranked = sorted(whole)
    allowed_below = math.floor(len(ranked) * (1 - keep) + 1e-9)
    return ranked[min(allowed_below, len(ranked) - 1)]


Scorer = Callable[[Sequence[str]], list[float]]
"""Each text's probability of being a whole message (the loaded model's `end_probabilities`)."""


def calibrate(model: str, score: Scorer, text: str | None = None) -> Calibration:
    """Score the request set with `score` and choose the threshold."""
    requests = load_requests(text)
    whole = score([r.whole for r in requests])
    cut = score([r.cut for r in requests if r.cut is not None])
    threshold = choose_threshold(whole)
    return Calibration(
        model=model,
        threshold=threshold,
        finished_from=choose_threshold(whole, FINISHED_COMPLETE),
        sure_from=choose_threshold(whole, SURE_COMPLETE),
        complete_kept=sum(s >= threshold for s in whole) / len(whole),
        cut_caught=sum(s < threshold for s in cut) / len(cut) if cut else 0.0,
        requests=len(whole),
        requests_version=_version(text if text is not None else requests_text()),
    )


def cache_path(model: str) -> Path:
    """Where the calibration for `model` (its name or path) is kept."""
    key = hashlib.sha256(model.encode()).hexdigest()[:16]
    return paths.data_dir() / "end-of-turn" / f"{key}.json"


def cached(model: str) -> Calibration | None:
    """The kept calibration for `model`, if it was made with the current request set."""
    path = cache_path(model)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = Calibration(**data)
    except (OSError, ValueError, TypeError):
        return None
    current = found.model == model and found.requests_version == _version(requests_text())
    return found if current else None


def calibration_for(model: str, score: Scorer, on_notice: Callable[[str], None]) -> Calibration:
    """The kept calibration for `model`, or a new one (made once, with a notice, and kept)."""
    found = cached(model)
    if found is not None:
        return found
    on_notice(f"calibrating the end of turn to {Path(model).name} (once)…")
    made = calibrate(model, score)
    path = cache_path(model)
    try:
        with atomic_text_writer(path) as out:
            json.dump(asdict(made), out, indent=2)
    except OSError as e:  # not kept: made again next time, nothing else is lost
        on_notice(f"could not keep the end-of-turn calibration in {path} ({e.strerror})")
    return made


def _version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
