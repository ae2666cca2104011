"""voicechat: a voice assistant for the terminal.

The data flow is the architecture::

    microphone -> speech-to-text -> language model -> sentences -> text-to-speech -> speaker
                        (asr/)           (llm/)                        (tts/)
                                 \\__________ session file __________/

`voicechat transcribe` runs the first half on audio files: audio/io.py decodes and resamples,
audio/vad.py finds the speech, asr/ turns it into timed text.
"""

__version__ = "0.1.0"
