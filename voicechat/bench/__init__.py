"""`voicechat bench`: the turn a user gets, measured stage by stage.

replay.py          a recorded question played in real time as the microphone
runner.py          turns through the real take recorder, early start and `run_turn`
figures.py         the measures, their percentiles, and the machine they ran on
random_weights.py  the real architectures with random weights, where none can be fetched
"""
