"""Speech-to-text: one `Transcriber` protocol (base.py), one adapter per engine."""
