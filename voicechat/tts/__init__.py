"""Text-to-speech: one `Synthesizer` protocol (base.py), one adapter per engine, and the
fallback that keeps a reply speaking when the online voice fails."""
