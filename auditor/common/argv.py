"""Go/pflag-style command-line parsing, shared by the Docker and Kubernetes node collectors.

Daemons such as dockerd, kubelet and kube-apiserver take flags the way Go's pflag library
reads them; this parser reproduces that reading so an audit sees what the daemon saw.
"""

from __future__ import annotations

# pflag accepts these spellings for a boolean given with "=" (strconv.ParseBool).
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def _normalise_bool(value: str) -> str:
    """Map pflag's boolean spellings to "true"/"false"; keep anything else as written."""
    if value in _TRUE:
        return "true"
    if value in _FALSE:
        return "false"
    return value


def parse_flags(argv: list[str], bool_flags: set[str], short: dict[str, str]) -> dict[str, list[str]]:
    """Parse `argv` (without the program name) into {long flag name: [values in order]}.

    `bool_flags` names the long flags that take no separate value (given alone they mean
    "true"; `--flag=false` is honoured). `short` maps one-letter flags to long names
    (e.g. {"H": "host"}). Parsing stops at `--`; positional arguments are ignored. A flag
    not known to be boolean takes the next argument as its value unless that argument
    starts with "-" (then it is treated as a boolean given alone).
    """
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            continue
        if arg.startswith("--"):
            name, value, i = _parse_long(arg[2:], argv, i, bool_flags)
            flags.setdefault(name, []).append(value)
        else:
            for name, value in _parse_short_group(arg[1:], argv, i, bool_flags, short):
                if value is _TAKE_NEXT:
                    value = argv[i]
                    i += 1
                flags.setdefault(name, []).append(str(value))
    return flags


# Marker meaning "the value is the next argv element" (for a short flag ending a group).
_TAKE_NEXT = object()


def _takes_next(argv: list[str], i: int) -> bool:
    return i < len(argv) and not argv[i].startswith("-")


def _parse_long(body: str, argv: list[str], i: int, bool_flags: set[str]) -> tuple[str, str, int]:
    """Parse one `--name[=value]`; return (name, value, next index)."""
    if "=" in body:
        name, value = body.split("=", 1)
        return name, _normalise_bool(value) if name in bool_flags else value, i
    if body in bool_flags:
        return body, "true", i
    if i < len(argv) and (_takes_next(argv, i) or argv[i] == "-"):
        return body, argv[i], i + 1
    # A value-taking flag with nothing after it: record it as given alone.
    return body, "true", i


def _parse_short_group(body: str, argv: list[str], i: int, bool_flags: set[str],
                       short: dict[str, str]) -> list[tuple[str, object]]:
    """Parse `-abc`, `-Hvalue`, `-H=value` or `-H value` into (long name, value) pairs."""
    out: list[tuple[str, object]] = []
    j = 0
    while j < len(body):
        letter = body[j]
        name = short.get(letter, letter)
        rest = body[j + 1:]
        if rest.startswith("="):
            value = rest[1:]
            out.append((name, _normalise_bool(value) if name in bool_flags else value))
            return out
        if name in bool_flags:
            out.append((name, "true"))
            j += 1
            continue
        if rest:
            out.append((name, rest))  # -Hunix:///x.sock
            return out
        out.append((name, _TAKE_NEXT if _takes_next(argv, i) else "true"))
        return out
    return out
