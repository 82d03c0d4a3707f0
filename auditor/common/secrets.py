"""What a secret looks like, in one place: secret-like names, secret shapes in text, and the
redaction of one string or one argument vector.

Collectors use it for what they reduce while reading (environment names, dockerd and component
flags); the redaction stage (:mod:`auditor.evidence.redact`) uses it for every string of the
bundle. Shapes come from detect-secrets' regex detectors (cloud keys, JWTs, vendor tokens) and its
Shannon entropy measure; what they do not know (private key blocks whole, URL user-info,
`name=value` and `--name value` for secret-like names, `Authorization: Bearer ...`) is written
here, once.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from functools import lru_cache

from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

REDACTED = "<redacted>"

# Names (keys, flags, variables, headers, query parameters) whose value is a secret.
_SECRET_KEY = re.compile(r"token|passw|secret|credential|api[-_]?key|private[-_]?key|access[-_]?key|passphrase"
                         r"|[-_.]pwd$|^pwd$|^auth$|^(proxy-)?authorization$|cookie|^x-auth|session[-_]?key"
                         r"|signing[-_]?key|encryption[-_]?key|^dsn$|connection[-_]?string", re.IGNORECASE)
# ...unless the name only names, locates or describes one ("SecretName", "tlskey" path, "tokenTTL").
_NAMES_A_SECRET = re.compile(r"(id|name|names|path|file|dir|ttl|like|ref|refs|type|count|seconds|version)$",
                             re.IGNORECASE)
# Variables whose *name* says secret (environment lists are judged by name or value).
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL",
                         re.IGNORECASE)
# Words that are never a secret, whatever the name (`--use-service-account-credentials=true`).
_NOT_SECRET_VALUES = frozenset({"true", "false", "", REDACTED})

_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s@?#]+)@")
_URL_WITH_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_.~-]{20,}")
_PEM_PRIVATE = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY[A-Z ]*)-----.*?(?:-----END \1-----|\Z)", re.DOTALL)
# name=value, name: value, --name value (the separator decides how far the value goes). Only
# names carrying a secret word match, so a plain word never swallows the assignment after it.
_SECRET_WORD = (r"token|passw|secret|credential|api[-_]?key|private[-_]?key|access[-_]?key|passphrase|pwd|auth"
                r"|cookie|session[-_]?key|signing[-_]?key|encryption[-_]?key|dsn|connection[-_]?string")
_ASSIGNMENT = re.compile(
    r"(?P<name>(?<![\w.-])-{0,2}[\w.-]*?(?:" + _SECRET_WORD + r")[\w.-]*)(?P<q>[\"']?)"
    r"(?P<sep>\s*=\s*|\s*:\s*|\s+)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|(?:(?:Bearer|Basic|Token|Digest|Negotiate)\s+)?(?!-)[^\s&;,\"'<>]+)",
    re.IGNORECASE)
_HIGH_ENTROPY = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
_RANDOM_RUN = re.compile(r"[A-Za-z0-9+=]{20}")
_ENTROPY_LIMIT = 4.2  # bits per character: 24 random base64 characters score about 4.4
_CLASSES = (re.compile("[a-z]"), re.compile("[A-Z]"), re.compile("[0-9]"))
# Short options whose value is a secret, for the programs that define them.
_SHORT_SECRET = {"mysql": "p", "mysqldump": "p", "mysqladmin": "p", "mariadb": "p", "mariadb-dump": "p",
                 "sshpass": "p", "redis-cli": "a", "curl": "u", "wget": "", "psql": "", "htpasswd": "b"}
# detect-secrets detectors not used: public IP addresses are evidence (listening sockets, API
# endpoints), not secrets; its keyword detector is for source code lines (the rules above cover it).
_SKIPPED_DETECTORS = {"IPPublicDetector", "KeywordDetector"}
_MIN_SHAPE = 16  # no detector's shape is shorter (AWS key ids are 20, JWTs longer)


def _detectors() -> list[RegexBasedDetector]:
    import detect_secrets.core.plugins.util as plugins

    found = []
    for cls in plugins.get_mapping_from_secret_type_to_class().values():
        if issubclass(cls, RegexBasedDetector) and cls.__name__ not in _SKIPPED_DETECTORS:
            found.append(cls())
    return sorted(found, key=lambda d: type(d).__name__)


_DETECTORS = _detectors()


def _any_shape(detectors: list[RegexBasedDetector]) -> re.Pattern[str]:
    # One pass over a string to learn whether any detector could match: most strings match none.
    parts = []
    for detector in detectors:
        for regex in detector.denylist:
            flags = "".join(f for f, bit in (("i", re.IGNORECASE), ("x", re.VERBOSE)) if regex.flags & bit)
            parts.append(f"(?{flags}:{regex.pattern})" if flags else f"(?:{regex.pattern})")
    return re.compile("|".join(parts))


_ANY_SHAPE = _any_shape(_DETECTORS)
# Cheaper first looks: every detector's shape has a run of 10 letters and digits or one of
# these marks; every assignment rule needs a secret word.
_SHAPE_HINT = re.compile(r"[A-Za-z0-9]{10}|xox|://|PuTTY|BEGIN")
_SECRET_WORD_HINT = re.compile(_SECRET_WORD, re.IGNORECASE)
_ENTROPY = Base64HighEntropyString()


@lru_cache(maxsize=1 << 14)
def secret_key(key: object) -> bool:
    """Whether a key, flag, variable, header or parameter name holds a secret as its value."""
    if not isinstance(key, str):
        return False
    key = key.lstrip("-")
    return bool(_SECRET_KEY.search(key)) and not _NAMES_A_SECRET.search(key)


def secret_value(value: object) -> bool:
    """Whether a value under a secret name is worth redacting (not a boolean, empty or done)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return True  # a numeric PIN or password is one too
    return isinstance(value, str) and value.strip().lower() not in _NOT_SECRET_VALUES


def entropy(value: str) -> float:
    """Shannon entropy of `value` in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def value_looks_secret(value: str) -> bool:
    """A whole value that is a PEM block, a URL carrying a password, or a long random-looking token."""
    if "-----BEGIN" in value or _URL_WITH_PASSWORD.search(value):
        return True
    # Paths and version strings are long but not random; tokens mix all three classes.
    if value.startswith("/") or not _TOKEN_CHARS.fullmatch(value):
        return False
    classes = sum(bool(p.search(value)) for p in _CLASSES)
    return classes == 3 and entropy(value) >= 3.5


def strip_url_credentials(value: str) -> str:
    """Replace the user-info (user:password@) of every URL in `value`."""
    return _URL_USERINFO.sub(lambda m: m[1] + REDACTED + "@", value)


def _assignment(m: re.Match[str]) -> str:
    name, sep, value = m["name"], m["sep"], m["value"]
    if not secret_key(name) or not secret_value(value.strip("\"'")):
        return m[0]
    if not sep.strip() and not name.startswith("-"):
        return m[0]  # "token abc" in prose is not an assignment; "--token abc" is
    quote = value[0] if value[0] in "\"'" else ""
    return name + m["q"] + sep + quote + REDACTED + quote


def _high_entropy(m: re.Match[str]) -> str:
    return _random_token(m[0])


def _random_token(token: str) -> str:
    if not _RANDOM_RUN.search(token) or sum(bool(p.search(token)) for p in _CLASSES) < 3:
        return token  # hex ids, digests, generated names, words joined by dashes
    if "/" in token and any(len(part) >= 3 and part.isalpha() and part.islower() for part in token.split("/")):
        # a path (/var/lib/docker/overlay2/l/ABC...) or a namespace/name, not base64: its parts
        # are judged one by one ("shop/<a token>" keeps "shop")
        return "/".join(_random_token(part) if len(part) >= 24 else part for part in token.split("/"))
    return REDACTED if looks_random(token) else token


def looks_random(token: str) -> bool:
    """Whether a run of 20 or more token characters (all three classes) is random, not words.

    Shannon entropy alone is length-biased: 32 random characters score 4.0 to 5.0 bits, and one
    draw in fifty falls under the fixed limit of 4.2. So a token is also random when it scores
    within 1.35 bits of the most its length allows (log2 of the length; every random draw of
    20 to 64 characters in 100,000 did) and it changes character class (lower, upper, digit)
    between at least 35% of neighbouring characters: random tokens change at about 60%,
    identifiers in camel case (`ReplicaSetControllerName2023`) at 20 to 35%."""
    score = _ENTROPY.calculate_shannon_entropy(token)
    if score >= _ENTROPY_LIMIT:
        return True
    if score < math.log2(len(token)) - 1.35:
        return False
    switches = sum(_char_class(a) != _char_class(b) for a, b in zip(token, token[1:], strict=False))
    return switches >= 0.35 * (len(token) - 1)


def _char_class(c: str) -> int:
    return 0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3


@lru_cache(maxsize=1 << 18)
def redact_text(text: str) -> str:
    """`text` with every secret it carries replaced by "<redacted>": private key blocks, URL
    user-info, values of secret-like names (`--password=S`, `--token S`, `token: S`,
    `?api_key=S`, `Password=S;`, `Authorization: Bearer S`), the shapes detect-secrets knows
    (cloud keys, JWTs, vendor tokens) and high-entropy tokens. One string: daemon and API error
    text, a command line, a value. Idempotent."""
    if len(text) < 3:
        return text
    out = text
    if "-----BEGIN" in out:
        out = _PEM_PRIVATE.sub(REDACTED, out)
    if "://" in out and "@" in out:
        out = strip_url_credentials(out)
    if ("=" in out or ":" in out or " " in out) and _SECRET_WORD_HINT.search(out):
        out = _ASSIGNMENT.sub(_assignment, out)
    if len(out) >= _MIN_SHAPE and _SHAPE_HINT.search(out) and _ANY_SHAPE.search(out):
        for detector in _DETECTORS:
            for found in set(detector.analyze_string(out)):
                if len(found) >= 8 and found != REDACTED:
                    out = out.replace(found, REDACTED)
    if len(out) >= 24:
        out = _HIGH_ENTROPY.sub(_high_entropy, out)
        while REDACTED + REDACTED in out:  # a JWT's parts found by two detectors
            out = out.replace(REDACTED + REDACTED, REDACTED)
    if " " in out:
        out = _short_options(out)
    return out


def _short_options(text: str) -> str:
    words = text.split(" ")
    if not _program_short_flags(words):
        return text
    return " ".join(redact_argv(words, deep=False))


def _program_short_flags(words: list[str]) -> set[str]:
    flags = set()
    for word in words:
        letters = _SHORT_SECRET.get(os.path.basename(word.strip("\"'")))
        if letters:
            flags.update(letters)
    return flags


def argv_word_matters(word: str) -> bool:
    """Whether an argv word may make :func:`redact_argv` redact the word after it (a secret-like
    flag, a bare short option, or a program with secret short options)."""
    if word[:1] == "-":
        return len(word) == 2 or secret_key(word) or (word[1:2] in "abcdefghijklmnopqrstuvwxyz" and word[1:2]
                                                      in "".join(_SHORT_SECRET.values()))
    return os.path.basename(word) in _SHORT_SECRET


def redact_argv(argv: list[str], *, deep: bool = True) -> list[str]:
    """An argument vector without secrets: the value after a bare secret-like flag (`--token S`,
    `-password S`), a program's secret short option (`mysql -pS`, `-p S`, `redis-cli -a S`,
    `curl -u user:pass`), and every word through :func:`redact_text` (`--x-token=S`, URLs...)."""
    short = _program_short_flags(argv)
    out: list[str] = []
    for i, arg in enumerate(argv):
        prev = argv[i - 1] if i else ""
        flag = prev.lstrip("-")
        if prev.startswith("-") and "=" not in prev and not arg.startswith("-") and arg:
            if (len(flag) > 1 and secret_key(flag)) or (len(flag) == 1 and prev == "-" + flag and flag in short):
                out.append(REDACTED)
                continue
        if len(arg) > 2 and arg[0] == "-" and arg[1] in short and arg[1] != "-" and not arg.startswith("--"):
            out.append(arg[:2] + REDACTED)  # mysql -pSECRET
            continue
        out.append(redact_text(arg) if deep else arg)
    return out


def redact_arg(arg: str) -> str:
    """Redact one command-line word (`--x-token=v`, `key-with-secret=v`, a URL with credentials)."""
    return redact_text(arg)
