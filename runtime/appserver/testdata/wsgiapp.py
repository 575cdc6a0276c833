"""A test app exercising PEP 3333, served wrapped in wsgiref.validate.

Every response reports what the server gave the app, so tests can assert the
environ as well as the framing. Validator warnings are turned into errors so
a sloppy server fails loudly.
"""
import io
import json
import os
import sys
import tempfile
import time
import warnings
from wsgiref.validate import validator

warnings.simplefilter("error")

_BIG = os.path.join(tempfile.gettempdir(), "stackctl-test-file-%d.bin" % os.getpid())


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    method = environ["REQUEST_METHOD"]
    if path.startswith("/raw/"):
        body = (path + "?" + environ.get("QUERY_STRING", "")).encode("latin-1")
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/speedups":
        # Which implementation of the worker's hot spots served this.
        body = b"C" if "_stackctl_speedups" in sys.modules else b"Python"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/environ":
        keep = {k: v for k, v in environ.items() if isinstance(v, str)}
        keep["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
        keep["wsgi.multithread"] = environ["wsgi.multithread"]
        keep["wsgi.version"] = list(environ["wsgi.version"])
        return _json(start_response, keep)
    if path == "/echo":
        parts = []
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            parts.append(chunk)
        data = b"".join(parts)
        return _json(start_response, {"len": len(data), "sha": __import__("hashlib").sha256(data).hexdigest(), "method": method})
    if path == "/echo-lines":
        lines = list(environ["wsgi.input"])
        return _json(start_response, {"lines": len(lines)})
    if path == "/partial-read":
        environ["wsgi.input"].read(10)
        return _json(start_response, {"read": 10})
    if path == "/stream":
        n = int(environ.get("QUERY_STRING") or "5")
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            for i in range(n):
                yield b"chunk %d\n" % i
        return gen()
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"and returned\n"]
    if path == "/file":
        size = int(environ.get("QUERY_STRING") or "100000")
        with open(_BIG, "wb") as f:
            f.write(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](open(_BIG, "rb"), 8192)
    if path == "/raise":
        raise RuntimeError("the test app raised")
    if path == "/raise-late":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first part\n"
            raise RuntimeError("raised mid-body")
        return gen()
    if path == "/slow":
        secs = float(environ.get("QUERY_STRING") or "1")
        time.sleep(secs)
        return _json(start_response, {"slept": secs, "pid": os.getpid()})
    if path == "/big":
        size = int(environ.get("QUERY_STRING") or "1000000")
        body = b"b" * size
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return [body]
    if path == "/print":
        print("hello from the app on stdout")
        print("and on stderr", file=sys.stderr)
        return _json(start_response, {"printed": True})
    if path == "/204":
        start_response("204 No Content", [])
        return []
    return _json(start_response, {"pid": os.getpid(), "path": path, "method": method, "script_name": environ["SCRIPT_NAME"], "query": environ.get("QUERY_STRING", "")})


application = validator(app)
