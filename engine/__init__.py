"""ttsops engine: offline TTS (eSpeak NG embedded, Kokoro-82M ONNX, ModelScope Sambert) that writes
the logs real TTS services write."""
__all__: list[str] = []
