"""stackctl's demo app: a stdlib-only WSGI application.

/            which worker served the request
/sleep?s=N   sleeps N seconds (default 1) - watch a worker turn busy
/leak?mb=N   keeps N MiB (default 10) alive in the worker - watch RSS grow
/error       raises - watch the exception counter and the log
/healthz     "ok", for health checks
"""
import html
import os
import sys
import time
from urllib.parse import parse_qs

WORKER = os.environ.get("STACKCTL_WORKER_ID", "?")
_leaked = []


def _arg(environ, name, default):
    try:
        return float(parse_qs(environ.get("QUERY_STRING", "")).get(name, [default])[0])
    except ValueError:
        return float(default)


def _text(start_response, body, status="200 OK", ctype="text/plain; charset=utf-8"):
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/sleep":
        secs = min(_arg(environ, "s", 1), 300)
        print(f"worker {WORKER}: sleeping {secs:g}s", flush=True)
        time.sleep(secs)
        return _text(start_response, f"worker {WORKER} slept {secs:g}s\n")
    if path == "/leak":
        mb = min(int(_arg(environ, "mb", 10)), 1024)
        _leaked.append(bytearray(os.urandom(1)) * (mb << 20))
        held = sum(len(b) for b in _leaked) >> 20
        print(f"worker {WORKER}: leaked {mb} MiB, holding {held} MiB", flush=True)
        return _text(start_response, f"worker {WORKER} holds {held} MiB\n")
    if path == "/error":
        print(f"worker {WORKER}: about to raise", file=sys.stderr, flush=True)
        raise RuntimeError("the demo app raised on purpose (/error)")
    if path == "/healthz":
        return _text(start_response, "ok\n")
    page = f"""<!doctype html>
<title>stackctl demo</title>
<link rel="stylesheet" href="/static/style.css">
<h1>Hello from worker {html.escape(WORKER)}</h1>
<p>pid {os.getpid()}, Python {sys.version.split()[0]}, served at {time.strftime('%H:%M:%S')}.</p>
<ul>
<li><a href="/sleep?s=2">/sleep?s=2</a> keeps a worker busy</li>
<li><a href="/leak?mb=20">/leak?mb=20</a> grows a worker's memory</li>
<li><a href="/error">/error</a> raises an exception</li>
</ul>
"""
    return _text(start_response, page, ctype="text/html; charset=utf-8")
