"""Speaker registry: a named speaker is a voice per language (eSpeak voice + variant + pitch settings).

Every speaker speaks both languages (mixed text keeps the same variant and pitch in each language);
``language`` is the one it is meant for. ``extra["kokoro_voice"]`` maps it to a Kokoro voice pack.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.backends.base import Voice
from ttsops.errors import InputError

__all__ = ["Speaker", "SPEAKERS", "EMOTIONS", "DEFAULT_SPEAKER", "get_speaker"]

EMOTIONS = ("neutral", "happy", "sad", "angry", "calm", "serious")


@dataclass(frozen=True)
class Speaker:
    """A named voice: ``voices[language]`` is what each back-end is given for that language."""

    name: str
    language: str
    gender: str
    description: str
    voices: dict[str, Voice] = field(hash=False, compare=False)

    def voice(self, language: str) -> Voice:
        return self.voices.get(language) or self.voices[self.language]


def _speaker(name: str, language: str, gender: str, description: str, *, variant: str, pitch: int,
             pitch_range: int, rate: int, en_voice: str = "en-us", kokoro: dict[str, str]) -> Speaker:
    voices = {
        "zh": Voice("zh", "cmn", variant, pitch, pitch_range, rate, extra={"kokoro_voice": kokoro["zh"]}),
        "en": Voice("en", en_voice, variant, pitch, pitch_range, rate, extra={"kokoro_voice": kokoro["en"]}),
    }
    return Speaker(name, language, gender, description, voices)


SPEAKERS: dict[str, Speaker] = {s.name: s for s in (
    _speaker("zh_female_1", "zh", "female", "Mandarin, female, bright mid pitch", variant="f4", pitch=58,
             pitch_range=55, rate=165, kokoro={"zh": "zf_xiaobei", "en": "af_heart"}),
    _speaker("zh_female_2", "zh", "female", "Mandarin, female, higher and livelier", variant="f1", pitch=68,
             pitch_range=65, rate=170, kokoro={"zh": "zf_xiaoni", "en": "af_bella"}),
    _speaker("zh_male_1", "zh", "male", "Mandarin, male, low and steady", variant="m3", pitch=38,
             pitch_range=45, rate=160, kokoro={"zh": "zm_yunjian", "en": "am_adam"}),
    _speaker("zh_male_2", "zh", "male", "Mandarin, male, mid pitch, quicker", variant="m1", pitch=48,
             pitch_range=50, rate=175, kokoro={"zh": "zm_yunxi", "en": "am_michael"}),
    _speaker("en_female_1", "en", "female", "American English, female", variant="f1", pitch=58,
             pitch_range=55, rate=170, kokoro={"zh": "zf_xiaobei", "en": "af_heart"}),
    _speaker("en_female_2", "en", "female", "British English, female, higher", variant="f4", pitch=64,
             pitch_range=60, rate=165, en_voice="en", kokoro={"zh": "zf_xiaoni", "en": "bf_emma"}),
    _speaker("en_male_1", "en", "male", "American English, male", variant="m3", pitch=40,
             pitch_range=50, rate=170, kokoro={"zh": "zm_yunjian", "en": "am_adam"}),
    _speaker("en_male_2", "en", "male", "British English, male, deeper", variant="m7", pitch=34,
             pitch_range=45, rate=160, en_voice="en", kokoro={"zh": "zm_yunxi", "en": "bm_george"}),
)}

DEFAULT_SPEAKER = "zh_female_1"


def get_speaker(name: str | None) -> Speaker:
    """The speaker called ``name`` (``None``: the default); :class:`InputError` names the choices."""
    key = DEFAULT_SPEAKER if name in (None, "") else name
    if not isinstance(key, str) or key not in SPEAKERS:
        raise InputError(f"unknown speaker {name!r}", where="speaker",
                         fix=f"choose one of {', '.join(SPEAKERS)}")
    return SPEAKERS[key]
