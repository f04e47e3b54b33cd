"""eSpeak NG through ctypes on the ``espeakng-loader`` wheel (``libespeak-ng.so`` + ``espeak-ng-data``).

The library is process-global C state, so this module owns the only loader and the only lock
(:data:`ESPEAK_LOCK`); the Kokoro back-end reaches it through :func:`phonemize`.

Two traps, both handled here:

* ``espeak_Initialize`` with a wrong data path prints an error and calls ``exit(1)``, killing the
  whole process. :func:`check_data_path` verifies the files it needs *before* the call.
* eSpeak keeps state between utterances in C ``static`` variables of its wave generator that
  neither ``espeak_Terminate`` + ``espeak_Initialize`` nor ``espeak_ng_SetRandSeed`` reset (the
  pitch "flutter" index ``Flutter_ix`` alone shifts cycle lengths; the glottal phase, echo buffer and
  harmonic tables carry over too), so the same text twice in one process differs by tens of samples
  while a fresh process is byte-identical. :class:`WavegenState` finds those variables in the
  library's ELF symbol table, snapshots their values right after the first ``espeak_Initialize``
  (the state of a fresh process) and writes them back before every utterance. Only plain numeric
  state is restored, never a pointer. ``tests/engine/test_espeak.py`` proves it: any request
  repeated after other requests, voices and variants is byte-identical to a fresh process.
* A few bundled variants (``f2``, ``f3``, ``f5``, ``whisper``... see
  :data:`NONDETERMINISTIC_VARIANTS`) differ between *processes* even so: their breath noise reads
  memory eSpeak never initialises. The speaker registry does not use them and the test suite
  checks every registered speaker in two fresh processes with different import orders.
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from engine.backends.base import Backend, BackendStatus, Voice
from ttsops.errors import BackendError

__all__ = ["EspeakBackend", "EspeakLibrary", "ESPEAK_LOCK", "SAMPLE_RATE", "phonemize",
           "check_data_path", "library", "WavegenState", "elf_data_symbols"]

SAMPLE_RATE = 22050  #: what espeak_Initialize returns for every bundled voice

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
espeakCHARS_UTF8 = 1
espeakENDPAUSE = 0x1000
POS_CHARACTER = 1
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE, espeakPUNCTUATION, espeakCAPITALS, espeakWORDGAP = (
    1, 2, 3, 4, 5, 6, 7)
EE_OK = 0
PHONEME_MODE_IPA = 0x02

#: files whose absence makes espeak_Initialize call exit(1)
REQUIRED_DATA_FILES = ("phontab", "phonindex", "phondata", "intonations")
#: dictionaries for the languages the engine speaks
REQUIRED_DICTS = ("cmn_dict", "en_dict")

try:
    _LIBC_SRAND = ctypes.CDLL(None).srand
    _LIBC_SRAND.argtypes = [ctypes.c_uint]
    _LIBC_SRAND.restype = None
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    def _LIBC_SRAND(_seed: int) -> None:
        return None

ESPEAK_LOCK = threading.RLock()  #: one lock for every call into libespeak-ng in this process

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


def default_paths() -> tuple[Path, Path]:
    """``(library, data)`` paths from the ``espeakng-loader`` wheel; env overrides for tests/ops.

    ``TTSOPS_ESPEAK_LIB`` and ``TTSOPS_ESPEAK_DATA`` replace the wheel's paths.
    """
    lib = os.environ.get("TTSOPS_ESPEAK_LIB")
    data = os.environ.get("TTSOPS_ESPEAK_DATA")
    if not lib or not data:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise BackendError("espeakng-loader is not installed", fix="pip install espeakng-loader") from exc
        lib = lib or espeakng_loader.get_library_path()
        data = data or espeakng_loader.get_data_path()
    return Path(lib), Path(data)


def check_data_path(data: Path) -> None:
    """Raise :class:`BackendError` unless ``data`` holds what espeak_Initialize needs.

    Done before the C call because a bad path there ends the process with ``exit(1)``.
    """
    if not data.is_dir():
        raise BackendError(f"eSpeak NG data directory not found: {data}",
                           fix="reinstall espeakng-loader or set TTSOPS_ESPEAK_DATA to an espeak-ng-data folder")
    missing = [f for f in REQUIRED_DATA_FILES + REQUIRED_DICTS if not (data / f).is_file()]
    if missing:
        raise BackendError(f"eSpeak NG data at {data} lacks {', '.join(missing)}",
                           fix="reinstall espeakng-loader or point TTSOPS_ESPEAK_DATA at a complete espeak-ng-data")


#: wave-generator statics (plain numbers and arrays, no pointers) that carry over between utterances;
#: names as in espeak-ng's wavegen.c / klatt.c, compilers add a ``.NNNN`` suffix to function statics
WAVEGEN_STATICS = (
    "Flutter_ix", "cycle_count", "cycle_samples", "phaseinc", "maxh", "maxh2", "h_switch_sign",
    "amplitude2", "hswitch", "hf_factor", "agc", "echo_buf", "echo_head", "echo_tail", "echo_amp",
    "echo_length", "echo_complete", "wavephase", "samplecount", "samplecount_start", "nsamples",
    "peak_harmonic", "peak_height", "hspect", "harm_inc", "wave_flag", "prev_fr", "last_amp_cmd",
    "last_pitch_cmd", "glotlast", "noise", "nlast", "vlast", "time_count", "n_samples", "ix",
    "amp_ix", "amp_inc", "skew", "peaks", "espeak_rand_state",
    # klatt.c (the klatt* variants); its only pointer points at a static glottal table set at init
    "kt_globals", "kt_frame", "klattp", "klattp1", "klattp_inc", "sample_count", "rbreath",
    "minus_pi_t", "two_pi_t",
)
#: spoken once at load, before the snapshot: the first utterance in a process takes lazy
#: initialisation paths (breath noise, voice tables) that later ones do not
WARMUP = (("cmn", None, "你好。"), ("en-us", "f4", "Hello."), ("en-us", "klatt3", "Hello."))
#: variants whose output differs between processes (eSpeak reads uninitialised memory for their
#: breath noise): found by synthesizing every bundled variant in fresh processes; never use them
NONDETERMINISTIC_VARIANTS = frozenset({"Alicia", "Demonic", "f2", "f3", "f5", "sandro", "victor", "whisper", "whisperf"})


def elf_data_symbols(path: Path) -> dict[str, list[tuple[int, int]]]:
    """``name -> [(offset, size), ...]`` of the data/bss objects in an ELF64 shared object's symtab.

    A minimal reader (the ELF header, section headers, ``.symtab`` and its string table) so that no
    binutils are needed. Returns ``{}`` for a stripped or non-ELF64 file.
    """
    import struct

    raw = path.read_bytes()
    if raw[:4] != b"\x7fELF" or raw[4] != 2 or raw[5] != 1:  # ELF, 64-bit, little-endian
        return {}
    e_shoff, = struct.unpack_from("<Q", raw, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", raw, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", raw, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    out: dict[str, list[tuple[int, int]]] = {}
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for j in range(sh[5] // 24):
            st_name, st_info, _other, st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", raw, sh[4] + j * 24)
            if st_info & 0xF != 1 or st_size == 0 or st_shndx == 0:  # STT_OBJECT, defined
                continue
            end = raw.index(b"\0", str_off + st_name)
            name = raw[str_off + st_name:end].decode("ascii", "replace")
            out.setdefault(name, []).append((st_value, st_size))
    return out


class WavegenState:
    """Snapshot / restore of eSpeak's wave-generator statics (see the module doc)."""

    def __init__(self, lib: ctypes.CDLL, lib_path: Path):
        self.regions: list[tuple[int, int]] = []
        self._saved: list[bytes] = []
        try:
            symbols = elf_data_symbols(lib_path)
        except (OSError, ValueError, IndexError):
            symbols = {}
        anchor = elf_function_offset(lib_path, "espeak_Initialize") if symbols else None
        if not symbols or anchor is None:
            return
        base = ctypes.cast(lib.espeak_Initialize, ctypes.c_void_p).value - anchor  # type: ignore[operator]
        wanted = set(WAVEGEN_STATICS)
        for name, places in symbols.items():
            if name.split(".")[0] in wanted:
                self.regions.extend((base + off, size) for off, size in places)

    @property
    def available(self) -> bool:
        return bool(self.regions)

    def snapshot(self) -> None:
        self._saved = [ctypes.string_at(addr, size) for addr, size in self.regions]

    def restore(self) -> None:
        for (addr, size), data in zip(self.regions, self._saved):
            ctypes.memmove(addr, data, size)


def elf_function_offset(path: Path, name: str) -> int | None:
    """Offset of function ``name`` in the ELF's ``.dynsym`` (to relate symbols to load addresses)."""
    import struct

    raw = path.read_bytes()
    e_shoff, = struct.unpack_from("<Q", raw, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", raw, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", raw, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    want = name.encode()
    for sh in sections:
        if sh[1] not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        str_off = sections[sh[6]][4]
        for j in range(sh[5] // 24):
            st_name, st_info, _o, st_shndx, st_value, _s = struct.unpack_from("<IBBHQQ", raw, sh[4] + j * 24)
            if st_info & 0xF == 2 and st_shndx and raw[str_off + st_name:str_off + st_name + len(want) + 1] == want + b"\0":
                return st_value
    return None


class EspeakLibrary:
    """The loaded ``libespeak-ng.so``; use :func:`library` for the process-wide instance."""

    def __init__(self, lib_path: Path, data_path: Path):
        check_data_path(data_path)
        if not lib_path.is_file():
            raise BackendError(f"{lib_path.name}: cannot open shared object file: No such file or directory",
                               where=str(lib_path), fix="reinstall espeakng-loader")
        try:
            self._lib = ctypes.CDLL(str(lib_path))
        except OSError as exc:
            raise BackendError(f"cannot load eSpeak NG library: {exc}", where=str(lib_path),
                               fix="reinstall espeakng-loader") from exc
        self.lib_path = lib_path
        self.data_path = data_path
        # espeak-ng-data's parent is what espeak_Initialize wants ("path" contains espeak-ng-data)
        self._c_path = str(data_path).encode()
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint),
                                     ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.argtypes = []
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept referenced: C holds the pointer
        self._initialised = False
        self.sample_rate = SAMPLE_RATE
        self.state = WavegenState(lib, lib_path)
        with ESPEAK_LOCK:
            self._initialise()
            for name, variant, text in WARMUP:
                self._speak(text, Voice("xx", name, variant))
            self.state.snapshot()  # the canonical wave-generator state every utterance starts from
            if not self.state.available:
                import warnings
                warnings.warn(f"{lib_path.name} has no symbol table: eSpeak output may differ between "
                              "utterances in one process (not byte-deterministic)", RuntimeWarning, stacklevel=2)

    def _on_audio(self, wav: ctypes.POINTER(ctypes.c_short), n: int, _events: int) -> int:  # type: ignore[valid-type]
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue

    def _initialise(self) -> None:
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, self._c_path, 0)
        if rate <= 0:
            raise BackendError(f"espeak_Initialize failed (returned {rate})", where=str(self.data_path))
        self.sample_rate = rate
        self._lib.espeak_SetSynthCallback(self._callback)
        self._initialised = True

    def _set_voice(self, voice: Voice) -> None:
        name = voice.name + (f"+{voice.variant}" if voice.variant else "")
        if self._lib.espeak_SetVoiceByName(name.encode()) != EE_OK:
            raise BackendError(f"eSpeak NG has no voice {name!r}", fix="use a voice from `espeak-ng --voices`")

    def synth(self, text: str, voice: Voice, *, rate_wpm: int | None = None, pitch: int | None = None,
              pitch_range: int | None = None, volume: int = 100, word_gap: int = 0) -> np.ndarray:
        """Speak ``text`` with ``voice``; return int16 samples at :attr:`sample_rate`.

        Starts from a freshly initialised library every time (determinism, see module doc).
        """
        with ESPEAK_LOCK:
            self.state.restore()
            return self._speak(text, voice, rate_wpm=rate_wpm, pitch=pitch, pitch_range=pitch_range,
                               volume=volume, word_gap=word_gap)

    def _speak(self, text: str, voice: Voice, *, rate_wpm: int | None = None, pitch: int | None = None,
               pitch_range: int | None = None, volume: int = 100, word_gap: int = 0) -> np.ndarray:
        with ESPEAK_LOCK:
            self._set_voice(voice)
            _LIBC_SRAND(1)  # breathy variants draw noise from libc rand()
            lib = self._lib
            rate = int(np.clip(rate_wpm if rate_wpm is not None else voice.rate_wpm, 80, 450))
            lib.espeak_SetParameter(espeakRATE, rate, 0)
            lib.espeak_SetParameter(espeakPITCH, int(np.clip(pitch if pitch is not None else voice.pitch, 0, 99)), 0)
            lib.espeak_SetParameter(espeakRANGE, int(np.clip(
                pitch_range if pitch_range is not None else voice.pitch_range, 0, 99)), 0)
            lib.espeak_SetParameter(espeakVOLUME, int(np.clip(volume, 0, 200)), 0)
            lib.espeak_SetParameter(espeakWORDGAP, int(max(0, word_gap)), 0)
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data, len(data))
            self._chunks = []
            err = lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
            if err != EE_OK:
                raise BackendError(f"espeak_Synth failed with code {err}")
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)

    def phonemize(self, text: str, voice: str, *, mode: int = PHONEME_MODE_IPA) -> str:
        """IPA phonemes of ``text`` spoken by eSpeak voice ``voice`` (``espeak_TextToPhonemes``).

        ``mode`` is espeak_TextToPhonemes' ``phonememode`` (bit 1: IPA, else ASCII mnemonics;
        bit 7 + bits 8-23: tie character; bits 8-23 alone: separator); Kokoro needs the ASCII
        rendering too, for Mandarin tones.
        """
        with ESPEAK_LOCK:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise BackendError(f"eSpeak NG has no voice {voice!r}")
            data = ctypes.create_string_buffer(text.encode("utf-8"))
            ptr = ctypes.c_char_p(ctypes.addressof(data))
            out: list[str] = []
            # each call consumes one clause and advances ptr; NULL when the text is used up
            while ptr.value:
                res = self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), espeakCHARS_UTF8, mode)
                if res:
                    out.append(res.decode("utf-8", errors="replace").strip())
            return " ".join(p for p in out if p)


_LIBRARY: EspeakLibrary | None = None


def library() -> EspeakLibrary:
    """The process-wide :class:`EspeakLibrary` (loaded on first use, under :data:`ESPEAK_LOCK`)."""
    global _LIBRARY
    with ESPEAK_LOCK:
        if _LIBRARY is None:
            lib_path, data_path = default_paths()
            _LIBRARY = EspeakLibrary(lib_path, data_path)
        return _LIBRARY


def phonemize(text: str, voice: str) -> str:
    """IPA phonemes for ``text`` in eSpeak voice ``voice`` (``"en-us"``, ``"cmn"``...); for Kokoro."""
    return library().phonemize(text, voice)


class EspeakBackend(Backend):
    """The embedded default: formant synthesis, Mandarin (``cmn``) and English, 22 050 Hz mono."""

    name: ClassVar[str] = "espeak"
    sample_rate: int = SAMPLE_RATE

    def __init__(self) -> None:
        self._lib: EspeakLibrary | None = None

    @classmethod
    def status(cls) -> BackendStatus:
        try:
            lib_path, data_path = default_paths()
            check_data_path(data_path)
            if not lib_path.is_file():
                raise BackendError(f"library not found at {lib_path}")
        except BackendError as exc:
            return BackendStatus(cls.name, False, exc.one_line(), SAMPLE_RATE)
        return BackendStatus(cls.name, True, f"eSpeak NG {lib_path.name}, data {data_path}", SAMPLE_RATE)

    def load(self) -> None:
        if self._lib is None:
            self._lib = library()
            self.sample_rate = self._lib.sample_rate

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0, pitch: int | None = None,
                   pitch_range: int | None = None, volume: int = 100) -> np.ndarray:
        self.load()
        assert self._lib is not None
        rate = int(round(voice.rate_wpm * speed))
        pcm = self._lib.synth(text, voice, rate_wpm=rate, pitch=pitch, pitch_range=pitch_range, volume=volume)
        return (pcm.astype(np.float32) / 32768.0)
