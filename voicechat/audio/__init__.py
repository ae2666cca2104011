"""Audio in and out: files (io.py) and voice activity (vad.py)."""
