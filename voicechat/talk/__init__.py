"""`voicechat talk`: the push-to-talk voice loop in the terminal, around `run_turn`.

loop.py      the states, the keys, and which turn runs when
takes.py     recording one take at a time from the microphone
commands.py  the typed /commands
screen.py    what the terminal shows (with the CLI, the only code that prints)
keys.py      decoding key bytes, the kitty keyboard protocol included
terminal.py  raw terminal modes, and reading keys in a thread
"""
