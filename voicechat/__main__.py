"""`python -m voicechat` runs the command line."""

from voicechat.cli import main

main()
