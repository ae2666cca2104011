"""Language models: one `ChatModel` protocol (base.py), one adapter per engine, and the text
handling around them (context.py fits history to the window, sentences.py cuts speech)."""
