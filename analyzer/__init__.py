"""tts-analyze: from a folder of logs to ranked incidents with root causes.

The analyzer never imports the engine: it reads any service's logs.
"""
__all__: list[str] = []
