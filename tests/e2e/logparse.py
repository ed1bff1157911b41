"""wincrid's structured log lines (`TIME level=L component=C msg="M" key=value ...`) as dicts."""
import datetime
import re

_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse(line):
    """The line's fields, quoted values unquoted; "time" is the leading timestamp."""
    stamp, _, rest = line.partition(" ")
    out = {"time": stamp}
    for key, val in _PAIR.findall(rest):
        if val.startswith('"'):
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = val
    return out


def seconds(stamp):
    """2026-11-25T00:18:12.123Z as seconds since the epoch."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def lines(log, msg, **match):
    """Parsed lines whose msg is `msg` and whose fields equal `match`."""
    out = []
    for raw in log.splitlines():
        if f'msg="{msg}"' not in raw:
            continue
        f = parse(raw)
        if f.get("msg") == msg and all(f.get(k) == v for k, v in match.items()):
            out.append(f)
    return out
