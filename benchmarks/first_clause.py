"""End of writing → first audio for a reply whose first sentence has a clause break, spoken
from its first clause against from its whole first sentence, side by side in one run.

    python benchmarks/first_clause.py [--words-per-s R] [--runs N]

The reply is written word by word at R words per second (the pace of a language model; Phi-3
on a laptop CPU writes a few, on a GPU tens), spoken by piper (offline) and played on a sink
that takes real time. Each run speaks the reply both ways, alternating.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.paced_model import PacedChatModel
from voicechat.audio.playback import TimedSink
from voicechat.llm.base import GenerationOptions
from voicechat.marks import Stage
from voicechat.reply import FIRST_CLAUSE_WORDS, ReplyListener, SpokenReply
from voicechat.tts.base import synthesize
from voicechat.tts.piper import PiperSynthesizer
from voicechat.types import Message

REPLY = (
    "The capital of France is Paris, a city of about two million people on the Seine. "
    "It is known for the Eiffel Tower and the Louvre. Spring is a lovely time to visit."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words-per-s", type=float, nargs="+", default=[4.0, 30.0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    voice = PiperSynthesizer()
    synthesize(voice, "Warming up.")
    print("words/s  whole first sentence  first clause  ratio")
    for rate in args.words_per_s:
        writer = PacedChatModel(REPLY, delay_s=1 / rate)
        sentence: list[float] = []
        clause: list[float] = []
        for _ in range(args.runs):
            for words, out in ((0, sentence), (FIRST_CLAUSE_WORDS, clause)):
                reply = SpokenReply(
                    writer, voice, TimedSink(), ReplyListener(), first_clause_words=words
                )
                # Stop once the first sound starts: what comes after is not measured.
                reply.listener = ReplyListener(on_speaking=reply.interrupt)
                result = reply.run([Message("user", "Paris?")], GenerationOptions())
                out.append(result.marks.ms(Stage.FIRST_AUDIO) or 0.0)
        a, b = statistics.median(sentence), statistics.median(clause)
        print(f"{rate:>7.0f}  {a:>17.0f} ms  {b:>9.0f} ms  {b / a:.2f}")


if __name__ == "__main__":
    main()
