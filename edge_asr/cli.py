"""Command line: run, recognize, devices, config, health (and train/evaluate/bench)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .config import DEFAULT_CONFIG_PATH, ConfigError, Settings, dump_settings, load_settings

EX_OK, EX_FAIL, EX_USAGE, EX_UNAVAILABLE, EX_CANTCREAT, EX_CONFIG = 0, 1, 2, 69, 73, 78

log = logging.getLogger("edge_asr")

DESCRIPTION = f"""\
Offline voice commands for edge devices: listens on a microphone, recognizes
commands with an INT8 model (ONNX Runtime or TFLite) and publishes each one
over MQTT as <prefix>/<device_id>/command.

Configuration: TOML file (default {DEFAULT_CONFIG_PATH}, or --config), then EDGE_ASR_*
environment variables (EDGE_ASR_MQTT__HOST=broker), then command-line flags.
"""

EXIT_CODES = """\
exit codes: 0 ok, 1 failure, 2 usage, 69 no audio device/runtime, 78 invalid config or model
"""


def _count(text: str) -> int:
    """argparse type: a whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def _at_least(low: float, high: float = 1e9) -> Callable[[str], float]:
    """argparse type: a number from low to high (a usage error otherwise, exit 2)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= low:
            raise argparse.ArgumentTypeError(f"must be >= {low:g}, got {text}")
        if not value <= high:
            raise argparse.ArgumentTypeError(f"must be <= {high:g}, got {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="edge-asr", description=DESCRIPTION, epilog=EXIT_CODES, formatter_class=fmt
    )
    parser.add_argument("--version", action="version", version=f"edge-asr {__version__}")
    parser.add_argument(  # `edge-asr --config X run` reads as naturally as `run --config X`
        "-c",
        "--config",
        dest="config_before",
        type=Path,
        metavar="CONFIG",
        help="TOML config file, before or after the command",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "-c", "--config", type=Path, help=f"TOML config file (default {DEFAULT_CONFIG_PATH})"
        )
        p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
        return p

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        """A subcommand with --config/--log-level, a description and the exit codes."""
        return with_config(
            sub.add_parser(
                name, help=summary, description=description, epilog=EXIT_CODES
            )  # the default formatter wraps the description to the terminal
        )

    def with_model(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
        p.add_argument("--backend", choices=["auto", "onnx", "tflite"], help="inference runtime")

    run = command(
        "run",
        "run the daemon (microphone -> MQTT)",
        "Listen and publish until SIGTERM/SIGINT. SIGHUP reloads the configuration: checked"
        " first, refused (and logged) if wrong, else applied by restarting in place. Under"
        " systemd it reports READY, STATUS and WATCHDOG.",
    )
    with_model(run)
    run.add_argument("--device", help="input device index or name substring (see `devices`)")
    run.add_argument("--mqtt-host", help="broker host")
    run.add_argument("--mqtt-port", type=int, help="broker port")
    run.add_argument("--device-id", help="topic level naming this device (default hostname)")
    run.add_argument(
        "--state-dir",
        type=Path,
        help="where the outbox, the mute and thresholds set over MQTT (and status.json) live",
    )
    run.add_argument(
        "--status-dir", type=Path, help="where status.json lives (default: the state directory)"
    )

    rec = command(
        "recognize",
        "recognize commands in WAV files with the streaming pipeline",
        "Runs the same pipeline as `run`, with each file chunked as the microphone would deliver"
        " it. Files are PCM WAV; other rates and stereo are converted.",
    )
    with_model(rec)
    rec.add_argument("files", nargs="+", type=Path, metavar="FILE")
    rec.add_argument("--json", action="store_true", help="one JSON object per file per line")

    cal = command(
        "calibrate",
        "pick a threshold from recordings of your own room (and voice)",
        "Runs the recognizer over recordings of the place the device will listen in, with no"
        " commands spoken (a few hours of everyday talk, TV, machines), and prints false"
        " accepts per hour at each threshold, what fired at the model's own threshold, and the"
        " lowest threshold at or above the model's that meets --per-hour. With --commands DIR"
        " (DIR/<command>/*.wav, e.g. you saying each command) it also prints the share of those"
        " clips each threshold recognizes.",
    )
    with_model(cal)
    cal.add_argument("negatives", nargs="+", type=Path, metavar="WAV", help="command-free audio")
    cal.add_argument("--commands", type=Path, metavar="DIR", help="clips: DIR/<command>/*.wav")
    cal.add_argument(
        "--per-hour", type=_at_least(0.0), default=0.5, help="false accepts per hour (0.5)"
    )
    cal.add_argument("--json", action="store_true", help="print the report as one JSON object")

    rec_room = command(
        "record",
        "record the microphone to a WAV file (room audio for `calibrate`)",
        "Records 16 kHz mono from the configured input device (audio.device, or --device)"
        " through the same capture path as `run`, until --minutes have passed or"
        " SIGINT/SIGTERM; what was recorded is kept. Stop the daemon first if the device cannot"
        " be shared.",
    )
    rec_room.add_argument("out", type=Path, metavar="WAV", help="file to write")
    rec_room.add_argument(
        "--minutes", type=_at_least(0.01, 7 * 24 * 60), default=60.0, help="how long (60)"
    )
    rec_room.add_argument("--device", help="input device index or name substring")

    enroll = command(
        "enroll",
        "record yourself saying each command, for `train --enroll`",
        "Prompts for each of the model's commands (or --commands) --takes times and records"
        " --seconds of 16 kHz mono after each prompt through the same capture path as `run`,"
        " into DIR/<command>/take-N.wav (spaces as _; a second run adds takes). A take with"
        " nothing loud in it is asked for again. Then `edge-asr train --commands ... --enroll"
        " DIR` builds a model that hears those voices better; record a few people, and keep"
        " other takes for `calibrate --commands` to check the result.",
    )
    enroll.add_argument("--model", type=Path, help="model folder (default: the shipped model)")
    enroll.add_argument("folder", type=Path, metavar="DIR", help="folder to write takes into")
    enroll.add_argument("--takes", type=_count, default=5, help="takes per command (5)")
    enroll.add_argument(
        "--seconds", type=_at_least(0.5), default=2.0, help="length of each take (2.0)"
    )
    enroll.add_argument("--commands", help="comma-separated subset (default: the model's)")
    enroll.add_argument("--device", help="input device index or name substring")

    sub.add_parser("devices", help="list audio input devices")

    cfg = sub.add_parser("config", help="show or check the configuration")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    with_config(cfg_sub.add_parser("show", help="print the effective configuration as JSON"))
    with_config(cfg_sub.add_parser("check", help="validate config and model; exit 78 if invalid"))

    health = with_config(sub.add_parser("health", help="exit 0 if the running daemon is healthy"))
    health.add_argument("--state-dir", type=Path, help="the daemon's state directory")
    health.add_argument(
        "--status-dir", type=Path, help="where the daemon writes status.json (default: state dir)"
    )
    health.add_argument(
        "--max-age-s", type=_at_least(1.0), default=30.0, help="status file freshness (30)"
    )

    from .bench import add_arguments as add_bench

    add_bench(sub.add_parser("bench", help="measure real-time factor, CPU, memory, start-up"))
    for name, text in (
        ("train", "train a model for your commands"),
        ("evaluate", "evaluate a model folder"),
    ):
        p = sub.add_parser(
            name, help=f"{text} (needs `pip install edge-asr[train]`)", add_help=False
        )
        p.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """CLI flags as a nested settings dict (only the ones given)."""
    mapping = {
        "model": ("model", "path"),
        "backend": ("model", "backend"),
        "device": ("audio", "device"),
        "mqtt_host": ("mqtt", "host"),
        "mqtt_port": ("mqtt", "port"),
        "device_id": ("mqtt", "device_id"),
        "state_dir": ("outbox", "state_dir"),
        "status_dir": ("outbox", "status_dir"),
    }
    out: dict[str, Any] = {}
    for attr, (section, key) in mapping.items():
        value = getattr(args, attr, None)
        if value is not None:
            out.setdefault(section, {})[key] = value
    if getattr(args, "log_level", None):
        out["log_level"] = args.log_level
    return out


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None), **_overrides(args))


def _setup_logging(level: str) -> None:
    # Under systemd the journal adds its own timestamps.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if "JOURNAL_STREAM" not in os.environ:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A file name that is not valid UTF-8 (Linux allows any bytes) must not end a run
    # half-way under a strict locale: such bytes are printed escaped.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    if argv and argv[0] in ("train", "evaluate"):  # their own parsers live in the train extra
        return _train_or_evaluate(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if args.config_before is not None and getattr(args, "config", None) is None:
        args.config = args.config_before
    from .audio import AudioError
    from .backends import BackendError
    from .model import ModelError
    from .record import OutputError

    try:
        if args.command == "devices":
            _setup_logging("WARNING")
            return _devices()
        settings = _settings(args)
        _setup_logging(settings.log_level)
        if args.command == "config":
            return _config(args.config_command, settings)
        if args.command == "health":
            return _health(settings, args.max_age_s)
        if args.command == "recognize":
            return _recognize(settings, args.files, args.json)
        if args.command == "calibrate":
            return _calibrate(settings, args.negatives, args.commands, args.per_hour, args.json)
        if args.command == "record":
            return _record(settings, args.out, args.minutes)
        if args.command == "enroll":
            return _enroll(settings, args)
        if args.command == "bench":
            from .bench import run_bench

            return run_bench(settings, args)
        return _run(settings, lambda: check_settings(_settings(args)))
    except (ConfigError, ModelError) as exc:
        print(f"edge-asr: {exc}", file=sys.stderr)
        return EX_CONFIG
    except (BackendError, AudioError) as exc:
        print(f"edge-asr: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except OutputError as exc:
        print(f"edge-asr: {exc}", file=sys.stderr)
        return EX_CANTCREAT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` or the like, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 128 + signal.SIGPIPE


def _run(settings: Settings, check_reload: Callable[[], str]) -> int:
    from .daemon import Daemon
    from .publisher import PublisherError

    try:
        daemon = Daemon(settings, check_reload)
    except PublisherError as exc:
        print(f"edge-asr: {exc}", file=sys.stderr)
        return EX_CONFIG
    code = daemon.run()
    if not daemon.reexec:
        return code
    # A reload: the configuration was checked, the daemon stopped cleanly. The same command
    # line again, in this process (systemd keeps tracking its PID), applies it.
    logging.shutdown()
    try:
        os.execv(sys.executable, sys.orig_argv)
    except OSError as exc:
        print(f"edge-asr: reload: cannot restart {sys.executable}: {exc}", file=sys.stderr)
    return EX_FAIL


def _recognize(settings: Settings, files: list[Path], as_json: bool) -> int:
    from .audio import AudioError, WavFileSource
    from .backends import load_backend
    from .model import default_model_dir, load_spec
    from .pipeline import Recognizer

    spec = load_spec(settings.model.path or default_model_dir())
    backend = load_backend(spec, settings.model.backend, settings.model.threads)
    recognizer = Recognizer(spec, backend, settings.decoder, settings.model.thresholds)
    rate = spec.frontend.sample_rate_hz
    chunk = rate * settings.audio.chunk_ms // 1000
    failures = 0
    for path in files:
        recognizer.reset()
        detections = []
        try:  # a bad header fails in WavFileSource, a bad body while reading: this file only
            source = WavFileSource(path, rate, chunk)
            while (samples := source.read()) is not None:
                for det in recognizer.feed(samples):
                    detections.append(
                        {
                            "command": det.command,
                            "score": round(det.score, 4),
                            "start_s": round(det.start_s, 3),
                            "end_s": round(det.end_s, 3),
                        }
                    )
        except AudioError as exc:
            failures += 1
            print(f"edge-asr: {exc}", file=sys.stderr)
            if as_json:
                print(json.dumps({"file": str(path), "detections": [], "error": str(exc)}))
            continue
        if as_json:
            print(json.dumps({"file": str(path), "detections": detections}), flush=True)
        else:
            found = ", ".join(
                f"{d['command']} ({d['score']:.2f}) at {d['end_s']:.2f}s" for d in detections
            )
            print(f"{path}: {found or 'nothing recognized'}", flush=True)
    return EX_FAIL if failures else EX_OK


def _calibrate(
    settings: Settings,
    negatives: list[Path],
    commands_dir: Path | None,
    per_hour: float,
    as_json: bool,
) -> int:
    from .audio import AudioError
    from .backends import load_backend
    from .calibrate import labelled_clips, report_json, report_lines, site_report
    from .model import default_model_dir, load_spec
    from .pipeline import Recognizer

    spec = load_spec(settings.model.path or default_model_dir())
    backend = load_backend(spec, settings.model.backend, settings.model.threads)
    recognizer = Recognizer(spec, backend, settings.decoder)
    chunk = spec.frontend.sample_rate_hz * settings.audio.chunk_ms // 1000
    try:
        clips = labelled_clips(commands_dir, spec.commands) if commands_dir else []
        if commands_dir and not clips:
            raise ValueError(f"{commands_dir}: no <command>/*.wav files")
        report = site_report(recognizer, settings.decoder, negatives, clips, per_hour, chunk)
    except (AudioError, ValueError) as exc:
        print(f"edge-asr: {exc}", file=sys.stderr)
        return EX_FAIL
    if as_json:
        print(json.dumps({"model": spec.name, "version": spec.version, **report_json(report)}))
    else:
        print(
            f"{spec.name} {spec.version} on {backend.name}, {recognizer.describe()}; "
            + "\n".join(report_lines(report, per_hour))
        )
    return EX_OK if report.meets_target else EX_FAIL


def _record(settings: Settings, out: Path, minutes: float) -> int:
    from .record import record

    seconds = record(settings.audio, out, minutes * 60)
    print(f"wrote {out}: {seconds:.1f} s at 16000 Hz")
    return EX_OK


def _enroll(settings: Settings, args: argparse.Namespace) -> int:
    from .model import default_model_dir, load_spec
    from .record import record_takes

    spec = load_spec(settings.model.path or default_model_dir())
    commands = list(spec.commands)
    if args.commands:
        wanted = [c.strip() for c in args.commands.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in commands]
        if not wanted:
            print(f"edge-asr: --commands names none of {spec.name}'s", file=sys.stderr)
            return EX_USAGE
        if unknown:
            print(f"edge-asr: not commands of {spec.name}: {', '.join(unknown)}", file=sys.stderr)
            return EX_USAGE
        commands = wanted
    written = record_takes(
        settings.audio,
        args.folder,
        commands,
        args.takes,
        args.seconds,
        lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"wrote {len(written)} takes under {args.folder}")
    # The recipe the model was built with: enrolling into the shipped model's commands means
    # rebuilding its full recipe, not the small one custom commands default to.
    size = " --size full" if spec.extra.get("training", {}).get("preset") == "long" else ""
    print(
        f'next: edge-asr train --commands "{", ".join(spec.commands)}" --enroll {args.folder}'
        f"{size} --out models/mine"
    )
    return EX_OK if len(written) == len(commands) * args.takes else EX_FAIL


def _devices() -> int:
    from .audio import list_devices

    devices = list_devices()
    if not devices:
        print("no input devices found", file=sys.stderr)
        return EX_UNAVAILABLE
    for dev in devices:
        mark = "*" if dev["default"] else " "
        print(
            f"{mark}{dev['index']:3d}  {dev['name']}  ({dev['channels']} ch, "
            f"{dev['default_rate_hz']} Hz)"
        )
    return EX_OK


def _config(action: str, settings: Settings) -> int:
    if action == "show":
        print(json.dumps(dump_settings(settings), indent=2, default=str))
        return EX_OK
    print(f"config ok; {check_settings(settings)}")
    return EX_OK


def check_settings(settings: Settings) -> str:
    """What `run` would start with (model, runtime, decoder), or ConfigError / ModelError /
    BackendError naming what is wrong: `config check`, and a running daemon's reload."""
    from .backends import load_backend
    from .model import default_model_dir, load_spec
    from .pipeline import Recognizer

    spec = load_spec(settings.model.path or default_model_dir())
    backend = load_backend(spec, settings.model.backend, settings.model.threads)
    recognizer = Recognizer(spec, backend, settings.decoder, settings.model.thresholds)
    files = {"mqtt.password_file": settings.mqtt.password_file}
    if settings.mqtt.tls:
        files.update({f"mqtt.tls.{key}": value for key, value in vars(settings.mqtt.tls).items()})
    for key, path in files.items():
        if isinstance(path, Path) and not path.is_file():
            raise ConfigError(f"config key {key}: file {path} not found")
    return (
        f"model {spec.name} {spec.version} ({len(spec.commands)} commands) "
        f"on {backend.name}; {recognizer.describe()}"
    )


def _health(settings: Settings, max_age_s: float) -> int:
    from .daemon import read_status

    try:
        status = read_status(settings.outbox.status_folder)
        age = time.time() - float(status.get("updated_ts", 0))
    except (OSError, ValueError, TypeError) as exc:  # missing or mangled
        print(f"unhealthy: no status ({exc})")
        return EX_FAIL
    if status.get("state") not in ("running", "restarting") or not age <= max_age_s:
        print(f"unhealthy: state {status.get('state')}, updated {age:.0f} s ago")
        return EX_FAIL
    print(f"healthy: {status.get('state')}, mqtt connected {status.get('mqtt_connected')}")
    return EX_OK


def _train_or_evaluate(command: str, argv: list[str]) -> int:
    try:
        from .train import cli as train_cli
    except ImportError as exc:
        print(
            f"edge-asr {command}: training tools missing ({exc}); pip install 'edge-asr[train]'",
            file=sys.stderr,
        )
        return EX_UNAVAILABLE
    return int(train_cli.main(command, argv))


if __name__ == "__main__":
    sys.exit(main())
