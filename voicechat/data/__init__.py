"""Data files shipped with voicechat: the end of turn's request set."""
