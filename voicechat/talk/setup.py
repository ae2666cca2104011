"""`voicechat talk`'s loop over the real parts: the microphone, the early start, the turns."""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

from voicechat.talk.loop import TalkLoop
from voicechat.turn import TurnListener

if TYPE_CHECKING:
    from voicechat.config import AudioConfig
    from voicechat.conversation import Conversation
    from voicechat.end_of_turn import TurnJudge
    from voicechat.talk.parts import Commands, KeySource
    from voicechat.talk.screen import TalkScreen
    from voicechat.talk.takes import MakeRecorder


def open_talk_loop(
    audio: AudioConfig,
    conversation: Conversation,
    make_recorder: MakeRecorder | None,
    keys: KeySource,
    screen: TalkScreen,
    commands: Commands,
    hands_free: bool,
    judge: TurnJudge | None = None,
    talk_over: bool = False,
) -> TalkLoop:
    """The loop over the real parts: the microphone (opened when first needed; None: typing
    only), the early start (with the smart end of turn's `judge`) and the conversation's
    turns, each shown on `screen`. talk_over: see TalkLoop (the microphone must cancel the
    speaker's echo)."""
    from voicechat.early_start import EarlyStart
    from voicechat.talk.going_on import GoingOn
    from voicechat.talk.takes import Takes
    from voicechat.talk.turns import Turns

    def said(text: str) -> None:
        screen.user_said(text)
        screen.show_state("thinking")

    sounding = threading.Event()

    def speaking() -> None:
        sounding.set()
        screen.show_state("speaking")

    listener = TurnListener(
        on_text=screen.reply_piece,
        on_notice=screen.notice,
        on_speaking=speaking,
        on_transcribing=lambda: screen.show_state("transcribing"),
        on_said=said,
    )
    takes: Takes | None = None

    def judged(paused_at: int, finished: bool | None, doubt: float) -> None:
        if takes is not None:
            takes.judged(paused_at, finished, doubt)

    early = EarlyStart.of(conversation, listener, judge, judged)
    heard: queue.SimpleQueue[str] = queue.SimpleQueue()
    takes = Takes(
        audio,
        make_recorder,
        early,
        lambda e: screen.error(f"{e}; type to talk instead"),
        lambda: heard.put("speech"),
    )
    turns = Turns(conversation, listener, screen)
    return TalkLoop(
        keys,
        screen,
        commands,
        takes,
        turns,
        early,
        hands_free,
        heard,
        talk_over,
        GoingOn(audio.resume_s, talk_over, sounding),
    )
