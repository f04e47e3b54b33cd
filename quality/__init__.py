"""tts-quality: reference audio, PESQ/STOI/F0/MCD scores and nightly regression verdicts."""
__all__: list[str] = []
