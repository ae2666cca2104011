"""`voicechat web`: the conversation in a browser page, around the same `run_turn`.

server.py  the ASGI app: the page, its WebSocket, the token and Origin checks
page.py    one open page's conversation: messages in, turns on a worker, replies out
index.html the page itself (no build step, nothing fetched from elsewhere)
"""
