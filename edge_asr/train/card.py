"""CARD.md for a model folder, written from the figures recorded in its model.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model import ModelSpec
from .recipe import ablation_table


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f} %"


def _points(value: float | None) -> str:
    return "?" if value is None else f"{value:+.2f} points"


def _other_spans(cal: dict[str, Any], smoothing_ms: int) -> str:
    """The thresholds calibrated the same way for other smoothing spans (latency trade-off)."""
    others = {int(k): v for k, v in cal.get("threshold_by_smoothing_ms", {}).items()}
    others.pop(smoothing_ms, None)
    if not others:
        return ""
    listed = ", ".join(f"{v:.2f} for {k} ms" for k, v in sorted(others.items()))
    return (
        f" Calibrated the same way for other spans (a shorter one answers sooner): {listed} "
        "(set `decoder.smoothing_ms` and `[model.thresholds] default` together)."
    )


def _lineage(m: dict[str, Any], t: dict[str, Any]) -> str:
    """How the shipped student was trained: distilled or not (validation chose), mined or not."""
    shipped = m.get("shipped_student")
    mined = t.get("hard_negatives") or {}
    base = mined.get("from") if shipped == "mined" else shipped
    if base is None:
        return ""
    how = "distilled from the teacher" if base == "kd" else "trained without distillation"
    return f" ({how}{', then on hard negatives' if shipped == 'mined' else ''})"


def _hard_negatives(mined: dict[str, Any] | None) -> list[str]:
    if not mined:
        return []
    return [
        f"- Hard negatives (`mined`): the `{mined['from']}` student, fine-tuned "
        f"({mined['cfg']['epochs']} epochs) with the {mined['windows']} windows of a command-free "
        f"stream of the training voices and music (`{mined['stream']}`, "
        f"{mined['stream_windows']} windows, sentences with near-miss words) on which it scored "
        f"a command >= {mined['threshold']:g}, added as `_unknown_`."
    ]


def _clip_agreement(streaming: dict[str, Any]) -> str:
    same = streaming.get("onnx_tflite_same_first_detection")
    if not same:
        return ""
    return (
        f" Through the streaming recognizer both publish the same first command (or none) on "
        f"{_pct(same['agree'])} of {same['clips']} held-out clips (every SNR, unknown words "
        "included)."
    )


def _seeds(training: dict[str, Any]) -> str:
    """The seed flags that rebuild this model: --seed (data, streams) and maybe --train-seed."""
    seed = training.get("seed", 0)
    data_seed = training.get("data", {}).get("seed")
    if data_seed is None or data_seed == seed:
        return f"`--seed {seed}`"
    return f"`--seed {data_seed} --train-seed {seed}`"


def _unknown_words(data: dict[str, Any]) -> str:
    n, m = data.get("unknown_words"), data.get("eval_unknown_words")
    if not n:
        return "other words"
    if m and m < n:
        return f"{n} other words in training (validation and test speak the first {m} of them)"
    return f"{n} other words"


HUMAN_GROUPS = {  # humans.GROUPS beyond Asterisk's digits, which have a line of their own
    "pocketsphinx": "Human voices in running speech (pocketsphinx's test recordings: other "
    "speakers, 16 kHz, commands inside sentences, and command-free LibriVox sentences",
    "alsa": 'Human voice in two-word phrases (ALSA\'s speaker-test prompts, "front left", '
    '"rear right", ...: one speaker, 48 kHz',
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _human_speech(spoken: dict[str, Any]) -> list[str]:
    """The card's lines for the recorded phrases and sentences, a line per group."""
    lines = []
    for group, what in HUMAN_GROUPS.items():
        x = spoken.get("groups", {}).get(group)
        if not x:
            continue
        heard = (
            f"{x['commands_heard']} of {x['commands_said']} commands heard in the order said, "
            if x["commands_said"]
            else "none of this model's commands is said in them; "
        )
        lines.append(
            f"- {what}; evaluation only; `build/human-check` lists each): {heard}"
            f"{_count(x['detections_never_said'], 'detection')} of commands never said "
            f"({x['recordings']} recordings, {x['seconds']:g} s)."
        )
    return lines


def write_card(spec: ModelSpec) -> Path:
    m: dict[str, Any] = spec.extra.get("metrics", {})
    t: dict[str, Any] = spec.extra.get("training", {})
    s: dict[str, Any] = spec.extra.get("streaming_eval", {})
    cal: dict[str, Any] = spec.extra.get("calibration", {})
    held = s.get("synthetic_heldout", {})
    top1 = held.get("top1", {})
    human = s.get("human_asterisk_prompts")
    spoken = s.get("human_recordings")
    neg = s.get("negative_stream", {})
    data = t.get("data", {})
    enrolled: dict[str, int] = data.get("enrolled") or {}
    files = m.get("file_bytes", {})
    agree = m.get("agreement", {})
    kd = t.get("kd", {})
    shift = data.get("voice_shift") or {}
    voice_shift = (
        f"voice shift (pitch and formants together, up to +-{100 * shift['pitch_range']:.0f} %, "
        f"on {100 * shift['p_pitch']:.0f} % of copies)"
        if shift.get("pitch_range") and shift.get("p_pitch")
        else "pitch"
    )
    conv = data.get("voice_conversion") or {}
    if conv.get("p_voice"):
        lo_hz, hi_hz = conv["voice_pitch_hz"]
        lo_f, hi_f = conv["voice_formant_ratio"]
        voice_shift += (
            f", voice conversion (Praat's Change gender on {100 * conv['p_voice']:.0f} % of "
            f"copies: pitch median {lo_hz:g}-{hi_hz:g} Hz, formants x{lo_f:g}-{hi_f:g})"
        )
    lines = [
        f"# {spec.name} {spec.version}",
        "",
        f"Recognizes {len(spec.commands)} commands: {', '.join(spec.commands)}. "
        "Internal classes `_silence_` and `_unknown_` are never published.",
        "",
        "## What it is",
        f"- A DS-CNN student{_lineage(m, t)}, INT8: "
        f"`model.onnx` ({files.get('model.onnx', '?')} bytes, QDQ) and "
        f"`model.tflite` ({files.get('model.tflite', '?')} bytes, int8 in/out).",
        f"- {m.get('macs', {}).get('student', '?'):,} multiply-accumulates and "
        f"{m.get('params', {}).get('student', '?'):,} parameters per inference "
        f"(teacher: {m.get('macs', {}).get('teacher', '?'):,} MACs, "
        f"{m.get('params', {}).get('teacher', '?'):,} parameters).",
        f"- Input: {spec.input_frames} frames x {spec.frontend.n_mels} log-mel bins "
        f"({spec.frontend.window_ms:g} ms window, {spec.frontend.hop_ms:g} ms hop, "
        f"{spec.window_s:.2f} s of audio); output: logits over {len(spec.labels)} labels.",
        f"- Threshold {spec.default_threshold:.2f} for every command "
        f"({cal.get('method', 'default')}), for inference every "
        f"{spec.decoder['infer_every_ms']} ms and posteriors averaged over "
        f"{spec.decoder['smoothing_ms']} ms." + _other_spans(cal, spec.decoder["smoothing_ms"]),
        "",
        "## How it was trained",
        "- "
        + ("Only synthetic" if not enrolled else "Synthetic")
        + " speech from TTS packages (espeak-ng, flite, Piper; festival held out for "
        "testing), augmented with simulated rooms, noise, babble, music (0-30 dB SNR), gain, "
        f"speed, {voice_shift}, time shift and telephone band-limiting. "
        + (
            "No human recording was used for training or tuning."
            if not enrolled
            else f"Also {sum(enrolled.values())} recordings of the user's own voices "
            f"(`--enroll`) of {len(enrolled)} commands, each trimmed to its speech and augmented"
            " the same way into more windows than a synthetic clip; the thresholds were still "
            "calibrated on synthetic speech only, and the held-out figures below do not measure "
            "the enrolled voices."
        ),
        "- Negatives (`_unknown_`): "
        + _unknown_words(data)
        + ", near-misses included"
        + (
            f" (each near-miss of a command in {data['near_miss_styles']} styles per training "
            "voice, as many as a command gets)"
            if data.get("near_miss_styles")
            else ""
        )
        + (
            f", and random 1 s crops of {data['sentences_per_voice']} command-free TTS sentences"
            " per training voice (running speech)."
            if data.get("sentences_per_voice")
            else "."
        ),
        f"- Windows: train {data.get('train', '?')}, validation {data.get('val', '?')}, "
        f"test {data.get('test', '?')} (test = voices/engine never seen in training).",
        f"- Teacher -> student by knowledge distillation (alpha {kd.get('alpha', '?')}, "
        f"temperature {kd.get('temperature', '?')});"
        f" shipped: `{m.get('shipped_student', '?')}`.",
        *_hard_negatives(t.get("hard_negatives")),
        f"- INT8: onnxruntime static quantization and litert-torch PT2E, sharing the activation "
        f"scales of one calibration on "
        f"{t.get('calibration_windows', '?')} training windows. On {agree.get('n', '?')} held-out "
        f"windows ONNX and TFLite agree on top-1 for {_pct(agree.get('agree_onnx_tflite'))}; "
        f"INT8 minus fp32 accuracy: ONNX {_points(agree.get('gap_onnx_points'))}, TFLite "
        f"{_points(agree.get('gap_tflite_points'))}.{_clip_agreement(s)}",
        f"- Rebuild: the same command with {_seeds(t)}. Seeds and epoch counts are fixed (a "
        "custom model's epochs follow its number of training windows), so a rebuild on the "
        "same machine writes the same files.",
        "",
        "## Measured results",
        "",
        "### Ablation on the held-out test windows (window classifier, top-1 %)",
        "```",
        ablation_table(m["test"]) if m.get("test") else "(not recorded)",
        "```",
        "",
        "### Through the streaming recognizer (what a device publishes)",
        f"Held-out TTS engine, {held.get('clips', {}).get('clean', '?')} clips per condition; "
        "a clip counts as correct when the first detection is its command.",
        "",
        "| condition | top-1 (ONNX) | top-1 (TFLite"
        + (f", {s['tflite_runtime']}" if s.get("tflite_runtime") else "")
        + ") |",
        "|---|---|---|",
    ]
    tfl = s.get("tflite_synthetic_heldout_top1", {})
    for key in ("clean", "20dB", "10dB", "0dB"):
        if key in top1:
            lines.append(f"| {key} | {_pct(top1[key])} | {_pct(tfl.get(key))} |")
    lines += [
        "",
        f"- Unknown words falsely accepted: {_pct(held.get('unknown_false_accept_rate'))} "
        f"of {held.get('unknown_clips', '?')} held-out unknown-word clips.",
        f"- False accepts per hour on {neg.get('hours', '?')} h of non-command speech, music and "
        f"noise: {neg.get('false_accepts_per_hour', 'n/a')}.",
    ]
    val = s.get("synthetic_validation")
    if val:
        v1 = val.get("top1", {})
        lines.append(
            "- Validation voices (never trained on; they set the threshold), same test: "
            + ", ".join(f"{k} {_pct(v1[k])}" for k in ("clean", "20dB", "10dB", "0dB") if k in v1)
            + f" of {val.get('clips', {}).get('clean', '?')} clips each; unknown words "
            f"accepted {_pct(val.get('unknown_false_accept_rate'))}."
        )
    if human:
        lines.append(
            f"- Human voice (Asterisk's recorded prompts, one speaker, 8 kHz telephone; "
            f"evaluation only): digits top-1 {_pct(human['top1'].get('clean'))} of "
            f"{human['clips'].get('clean', 0)}; number words falsely accepted "
            f"{_pct(human.get('unknown_false_accept_rate'))}."
        )
    lines += _human_speech(spoken) if spoken else []
    lines += [
        "",
        "![confusion](confusion.png) ![DET](det.png)",
        "",
        "## Limits",
        (
            "- Trained on synthetic voices only; the human-voice figures above are from a few "
            "speakers and a few dozen words. "
            "Expect lower accuracy for accents, children and far-field speech than the TTS figures."
            if not enrolled
            else "- Trained on synthetic voices and the enrolled recordings; no figure above "
            "measures the enrolled voices. Check them with other takes of theirs "
            "(`edge-asr calibrate room.wav --commands other-takes/`)."
        ),
        "- One window of about 1 s: commands longer than that (slow multi-word phrases) are cut.",
        "- The false-accept rate is measured on synthetic speech and music; real rooms (TV, "
        "conversation) differ: `edge-asr calibrate room.wav` measures it on a recording of "
        "yours. Raise the threshold per command (`[model.thresholds]` or the MQTT `set` topic) "
        "if a command fires on its own.",
        "- `samples/` holds one held-out clip per command that this model recognizes: a smoke "
        "test for installs and images, chosen for being recognized, not an accuracy figure.",
        "- `model.onnx` computes in INT8: on x86 CPUs without VNNI (AVX2 only) onnxruntime's "
        "default kernel saturates and gives other scores. edge-asr sets onnxruntime's "
        "`session.x64quantprecision` option; any other program that runs this file there "
        "must set it too.",
        "",
    ]
    path = spec.folder / "CARD.md"
    path.write_text("\n".join(lines))
    return path
