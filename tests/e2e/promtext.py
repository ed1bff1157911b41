"""A strict reader of the Prometheus text exposition format (version 0.0.4), for checking what
wincrid's metrics endpoint serves: every rule the format states is enforced, and a few that
Prometheus' own conventions add (counter names end in _total, histograms are complete and
cumulative). Returns the samples as {(name, frozenset(labels.items())): value}."""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class FormatError(AssertionError):
    pass


def _value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise FormatError(f"{where}: value {text!r} is not a float") from None


def _labels(text, where):
    """Parses the inside of {...}; returns (dict, rest of the line after '}')."""
    out = {}
    i = 0
    while True:
        if text[i] == "}":
            return out, text[i + 1:]
        m = re.match(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", text[i:])
        if not m:
            raise FormatError(f"{where}: bad label at {text[i:]!r}")
        name = m.group(1)
        i += m.end()
        val = []
        while True:
            if i >= len(text):
                raise FormatError(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise FormatError(f"{where}: bad escape \\{nxt}")
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                val.append(c)
                i += 1
        if name in out:
            raise FormatError(f"{where}: label {name} twice")
        out[name] = "".join(val)
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise FormatError(f"{where}: expected , or }} after a label")


def _family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def parse(text, prefix=""):
    if not text.endswith("\n"):
        raise FormatError("the exposition must end with a newline")
    types, helps, samples = {}, {}, {}
    seen_families, current = set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.match(name):
                    raise FormatError(f"{where}: bad metric name {name!r}")
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError(f"{where}: bad TYPE line")
                    if name in types:
                        raise FormatError(f"{where}: second TYPE for {name}")
                    if name in seen_families:
                        raise FormatError(f"{where}: TYPE for {name} after its samples")
                    types[name] = parts[3]
                else:
                    if name in helps:
                        raise FormatError(f"{where}: second HELP for {name}")
                    helps[name] = parts[3] if len(parts) == 4 else ""
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        if not m:
            raise FormatError(f"{where}: a sample must start with a metric name")
        name, rest = m.group(1), line[m.end():]
        labels = {}
        if rest.startswith("{"):
            labels, rest = _labels(rest[1:], where)
        fields = rest.split(" ")
        if fields[0] != "" or len(fields) not in (2, 3):
            raise FormatError(f"{where}: expected ' value [timestamp]' after the name")
        value = _value(fields[1], where)
        if len(fields) == 3 and not re.match(r"-?\d+\Z", fields[2]):
            raise FormatError(f"{where}: bad timestamp")
        family = _family_of(name, types)
        if family != current:
            if family in seen_families:
                raise FormatError(f"{where}: samples of {family} are not contiguous")
            seen_families.add(family)
            current = family
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise FormatError(f"{where}: duplicate sample {name}{labels}")
        samples[key] = value
    _check_conventions(types, helps, samples, prefix)
    return samples


def _check_conventions(types, helps, samples, prefix):
    for name, kind in types.items():
        if prefix and not name.startswith(prefix):
            raise FormatError(f"{name} lacks the {prefix} prefix")
        if name not in helps or not helps[name]:
            raise FormatError(f"{name} has no HELP")
        if kind == "counter":
            if not name.endswith("_total"):
                raise FormatError(f"counter {name} does not end in _total")
            for (n, _), v in samples.items():
                if n == name and (v < 0 or math.isnan(v)):
                    raise FormatError(f"counter {name} is {v}")
        if kind == "histogram":
            _check_histogram(name, samples)
    for (n, _) in samples:
        if _family_of(n, types) not in types:
            raise FormatError(f"sample {n} has no TYPE")


def _check_histogram(name, samples):
    series = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            d = dict(labels)
            le = d.pop("le", None)
            if le is None:
                raise FormatError(f"{n} without le")
            series.setdefault(frozenset(d.items()), []).append((_value(le, n), v))
    for (n, labels), v in samples.items():
        if n in (name + "_sum", name + "_count") and labels not in series:
            raise FormatError(f"{n}{dict(labels)} has no buckets")
    for labels, buckets in series.items():
        buckets.sort()
        if buckets[-1][0] != math.inf:
            raise FormatError(f"{name}{dict(labels)} has no +Inf bucket")
        counts = [c for _, c in buckets]
        if counts != sorted(counts):
            raise FormatError(f"{name}{dict(labels)} buckets are not cumulative: {counts}")
        count = samples.get((name + "_count", labels))
        if count is None or (name + "_sum", labels) not in samples:
            raise FormatError(f"{name}{dict(labels)} lacks _sum or _count")
        if count != counts[-1]:
            raise FormatError(f"{name}{dict(labels)}: _count {count} != +Inf bucket {counts[-1]}")


def value(samples, name, default=None, **labels):
    return samples.get((name, frozenset(labels.items())), default)
