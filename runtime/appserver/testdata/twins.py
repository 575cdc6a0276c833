"""Differential test of the worker's C speedups against their Python twins.

Usage: python3 twins.py WORKER_DIR SPEEDUPS_SO [RANDOM_CASES]

For a corpus of vars blocks and response heads, plus random ones, the C
version must do what the Python version does: the same environ (or the
same exception, class and message), the same head bytes and Response
attributes. For a head, C may decline (return None) — then the worker runs
the Python version — but it must never answer where Python raises.
Prints "ok ..." and exits 0, or prints each difference and exits 1."""
import os
import random
import socket
import struct
import sys
import threading
import time

r, w = os.pipe()
os.environ["STACKCTL_STATUS_FD"] = str(w)
sys.path.insert(0, sys.argv[1])
import stackctl_worker as sw  # noqa: E402

py_environ, py_prepare, py_accept, py_started = sw.environ_for, sw.prepare, sw.accept, sw.scoreboard_start
if sw.load_speedups(sys.argv[2], required=True) is None:
    sys.exit("speedups not loaded")
c_environ, c_prepare, c_accept, c_started = sw.environ_for, sw.prepare, sw.accept, sw.scoreboard_start
c_head, c_respond = sw._c_head, sw._c_respond
random_cases = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
failures = []


def vars_block(pairs):
    out = b""
    for k, v in pairs:
        out += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    return out


def split_block(fields):
    return b"\x00".join(fields)


def describe(fn, *args):
    try:
        env, consumed = fn(*args)
    except Exception as e:
        return ("raised", type(e).__name__, str(e))
    out = {}
    for k, v in env.items():
        if k == "wsgi.input":
            v = ("empty",) if v is sw.EMPTY_INPUT else (type(v).__name__, v.fd, v.buf, v.pos, v.remaining)
        out[k] = v
    return ("env", out, consumed)


def check_environ(name, data, start, end, body_start, body_end, split=False):
    args = (data, start, end, body_start, body_end, 7, split)
    want, got = describe(py_environ, *args), describe(c_environ, *args)
    if want != got:
        failures.append("environ %s: %r\n  python: %r\n  C:      %r" % (name, data[start:end][:200], want, got))


NGINX = [(b"QUERY_STRING", b"q=caf%C3%A9"), (b"REQUEST_METHOD", b"GET"), (b"CONTENT_TYPE", b""),
         (b"CONTENT_LENGTH", b""), (b"REQUEST_URI", b"/a?q=caf%C3%A9"), (b"PATH_INFO", b"/a"),
         (b"DOCUMENT_ROOT", b"/srv"), (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"REQUEST_SCHEME", b"http"),
         (b"HTTPS", b""), (b"REMOTE_ADDR", b"127.0.0.1"), (b"REMOTE_PORT", b"5555"), (b"SERVER_PORT", b"8080"),
         (b"SERVER_NAME", b"example"), (b"HTTP_HOST", b"example:8080"), (b"HTTP_USER_AGENT", b"wrk")]


def corpus():
    get = [(b"REQUEST_METHOD", b"GET")]
    yield "nginx", vars_block(NGINX), b""
    yield "empty block", b"", b""
    yield "no method", vars_block([(b"PATH_INFO", b"/")]), b""
    yield "repeated header", vars_block(get + [(b"HTTP_X", b"1"), (b"HTTP_X", b"2"), (b"HTTP_X", b"3")]), b""
    yield "repeated cookie", vars_block(get + [(b"HTTP_COOKIE", b"a=1"), (b"HTTP_COOKIE", b"b=2")]), b""
    yield "base keys replaced", vars_block(get + [(b"SERVER_NAME", b"x"), (b"SERVER_PORT", b"1"), (b"SCRIPT_NAME", b"")]), b""
    yield "latin-1 bytes", vars_block(get + [(b"PATH_INFO", "/café".encode("utf-8")), (b"HTTP_X", bytes(range(128, 256)))]), b""
    yield "empty key", vars_block(get + [(b"", b"v")]), b""
    yield "empty value", vars_block(get + [(b"K", b"")]), b""
    yield "truncated length", vars_block(get) + b"\x05", b""
    yield "key past the end", vars_block(get) + b"\x10\x00AB", b""
    yield "value past the end", vars_block(get) + b"\x01\x00K\x10\x00AB", b""
    yield "empty key at the end", vars_block(get) + b"\x00\x00", b""
    for cl in [b"0", b"5", b"12", b"100", b" 7 ", b"1_0", b"-1", b"abc", b"5x", b"99999999999999999999999", b"+3", b"\xe9"]:
        yield "CONTENT_LENGTH %r" % cl, vars_block(get + [(b"CONTENT_LENGTH", cl)]), b"hello, world"
    for k, v in [(b"HTTPS", b"on"), (b"HTTPS", b"1"), (b"HTTPS", b"off"), (b"REQUEST_SCHEME", b"https"),
                 (b"UWSGI_SCHEME", b"https"), (b"UWSGI_SCHEME", b"http")]:
        yield "scheme %s=%s" % (k, v), vars_block(get + [(k, v)]), b""
    yield "HTTP_CONTENT_*", vars_block(get + [(b"HTTP_CONTENT_TYPE", b"x"), (b"HTTP_CONTENT_LENGTH", b"3")]), b""
    for sn, pi, uri in [(b"/app", b"/app/x", b"/app/x"), (b"/app/", b"/app", b"/app"), (b"/", b"/x", b"/x"),
                        (b"/app", b"/x", b"/app/x"), (b"/app", b"/application", b"/application"),
                        (b"/a%20b", b"/a b/c", b"/a%20b/c")]:
        yield "SCRIPT_NAME %s" % sn, vars_block(get + [(b"SCRIPT_NAME", sn), (b"PATH_INFO", pi), (b"REQUEST_URI", uri)]), b""


KEYS = [b"REQUEST_METHOD", b"PATH_INFO", b"QUERY_STRING", b"CONTENT_LENGTH", b"HTTP_X", b"HTTP_COOKIE", b"HTTPS",
        b"REQUEST_SCHEME", b"UWSGI_SCHEME", b"SERVER_NAME", b"SCRIPT_NAME", b"HTTP_CONTENT_TYPE", b"REQUEST_URI", b"k\xff"]
VALUES = [b"", b"GET", b"/", b"/app", b"/app/x", b"on", b"https", b"3", b"-2", b"x", b"a=1", "é".encode(), b"\x00\x01"]


def random_environ_cases(rng, n):
    for i in range(n):
        pairs = [(rng.choice(KEYS), rng.choice(VALUES)) for _ in range(rng.randrange(0, 8))]
        if rng.random() < 0.8:
            pairs.insert(rng.randrange(len(pairs) + 1), (b"REQUEST_METHOD", rng.choice([b"GET", b"POST", b"HEAD"])))
        split = rng.random() < 0.3
        block = split_block([x for kv in pairs for x in kv]) if split else vars_block(pairs)
        if rng.random() < 0.2 and block:  # corrupt it
            cut = rng.randrange(len(block))
            block = block[:cut] if rng.random() < 0.5 else block[:cut] + bytes([rng.randrange(256)]) + block[cut + 1:]
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))
        data = b"\x00\x00\x00\x00" + block + body
        yield "random %d" % i, data, 4, 4 + len(block), 4 + len(block), len(data), split


def head_attrs(resp):
    return (resp.code, resp.length, resp.chunked, resp.sent)


def check_head(name, status, headers, known, proto, lane, head_only):
    a = sw.Response(3, lane, head_only, proto)
    a.status, a.headers = status, headers
    b = sw.Response(3, lane, head_only, proto)
    b.status, b.headers = status, headers
    try:
        want = ("bytes", a.py_head(known), head_attrs(a))
    except Exception as e:
        want = ("raised", type(e).__name__, str(e))
    try:
        out = c_head(b, known)
        got = None if out is None else ("bytes", out, head_attrs(b))
    except Exception as e:
        got = ("raised", type(e).__name__, str(e))
    if got is None:
        return False  # declined: the worker runs the Python version
    if got != want:
        failures.append("head %s: status=%r headers=%r known=%r proto=%r lane=%r head_only=%r\n  python: %r\n  C:      %r"
                        % (name, status, headers, known, proto, lane, head_only, want, got))
    return True


STATUSES = ["200 OK", "204 No Content", "304 Not Modified", "101 Switching", "404 Not Found", "500 Oops", "2000 X",
            "20", "abc OK", "200 OK\r\nX: y", "200 caf\u00e9", "200 \u20ac", 200, "099 Low", " 200 OK"]
NAMES = ["Content-Type", "Content-Length", "content-length", "CONTENT-LENGTH", "X-A", "Set-Cookie", "X\r\nY", "X\u20ac",
         "Content-Lengths"]
HVALUES = ["text/plain", "5", "14", "0", " 5", "5x", "", "a\nb", "caf\u00e9", "\u20ac", "123456789012345678901"]


def random_head_cases(rng, n):
    for i in range(n):
        headers = []
        for _ in range(rng.randrange(0, 5)):
            r = rng.random()
            if r < 0.05:
                headers.append([rng.choice(NAMES), rng.choice(HVALUES)])  # a list, not a tuple
            elif r < 0.08:
                headers.append((rng.choice(NAMES), 5))
            elif r < 0.1:
                headers.append((rng.choice(NAMES), "v", "extra"))
            else:
                headers.append((rng.choice(NAMES), rng.choice(HVALUES)))
        if rng.random() < 0.05:
            headers = tuple(headers)
        yield ("random %d" % i, rng.choice(STATUSES), headers, rng.choice([None, 0, 5, 14]),
               rng.choice(["HTTP/1.1", "HTTP/1.0"]), rng.random() < 0.5, rng.random() < 0.3)


def env_view(env):
    return describe(lambda: (env, 0))


def run_prepare(fn, packet, close, buffer_size):
    """Send packet down a socketpair (closing the sending side if close)
    and let fn read it, with a 100 ms receive timeout as the master sets."""
    a, b = socket.socketpair()
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 100000))
    try:
        threading.Thread(target=a.sendall, args=(packet,), daemon=True).start()
        if close:
            time.sleep(0.01)
            a.shutdown(socket.SHUT_WR)
        sb = bytearray(512)
        r = fn(b.fileno(), buffer_size, sb, 256, 6)
        if type(r) is tuple:
            env, t0, seq = r
            sb[256 + 8:256 + 16] = b"T" * 8
            return ("env", env_view(env)[1], type(t0).__name__, seq, bytes(sb))
        return r
    finally:
        a.close()
        b.close()


def check_prepare():
    get = [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/x?y")]
    packets = [
        ("nginx", vars_block(NGINX), b"", True, 65535),
        ("with a body", vars_block(get + [(b"CONTENT_LENGTH", b"5")]), b"hello", True, 65535),
        ("long URI", vars_block([(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/" + b"x" * 400)]), b"", True, 65535),
        ("big vars, body in a later read", vars_block(get + [(b"HTTP_X", b"v" * 65000), (b"CONTENT_LENGTH", b"9000")]), b"b" * 9000, True, 65535),
        ("malformed", vars_block(get) + b"\x01", b"", True, 65535),
        ("no method", vars_block([(b"PATH_INFO", b"/")]), b"", True, 65535),
        ("over buffer_size", vars_block(get + [(b"HTTP_X", b"v" * 200)]), b"", False, 100),
    ]
    n = 0
    for name, block, body, close, bs in packets:
        packet = struct.pack("<BHB", 0, len(block), 0) + block + body
        cases = [(name, packet, close, bs)]
        if name == "nginx":
            cases += [("modifier1 5", b"\x05" + packet[1:], close, bs), ("health probe", b"", True, bs),
                      ("truncated", packet[:-3], True, bs), ("timed out", packet[:-3], False, bs),
                      ("header only", packet[:3], True, bs)]
        for cname, pkt, cl, bsz in cases:
            want, got = run_prepare(py_prepare, pkt, cl, bsz), run_prepare(c_prepare, pkt, cl, bsz)
            if want != got:
                failures.append("prepare %s:\n  python: %r\n  C:      %r" % (cname, want, got))
            n += 1
    return n


def check_scoreboard():
    n = 0
    for env in [{"REQUEST_METHOD": "GET", "REQUEST_URI": "/a?b"}, {"REQUEST_METHOD": "POST", "PATH_INFO": "/p"},
                {"REQUEST_METHOD": "GET", "REQUEST_URI": "", "PATH_INFO": "/pi"}, {"REQUEST_METHOD": "HEAD"},
                {"REQUEST_METHOD": "GET", "REQUEST_URI": "/" + "\u20ac" * 300}]:
        for sb in (None, bytearray(512)):
            got = []
            for fn in (py_started, c_started):
                board = None if sb is None else bytearray(sb)
                got.append((fn(board, 256, 41, 123456789, env), board))
            if got[0] != got[1]:
                failures.append("scoreboard_start %r:\n  python: %r\n  C:      %r" % (env, got[0], got[1]))
            n += 1
    return n


def check_accept():
    n = 0
    for fn in (py_accept, c_accept):
        lst = socket.socket(socket.AF_UNIX)
        lst.bind("\0stackctl-twins-%d-%d" % (os.getpid(), n))
        lst.listen(8)
        lst.setblocking(False)
        got = [fn(lst)]
        c = socket.socket(socket.AF_UNIX)
        c.connect(lst.getsockname())
        fd = fn(lst)
        got.append((type(fd).__name__, os.get_blocking(fd), os.get_inheritable(fd), fn(lst)))
        os.close(fd)
        c.close()
        lst.close()
        if got != [None, ("int", True, False, None)]:
            failures.append("accept %s: %r" % (fn, got))
        n += 1
    return n


def hello(env, sr):
    sr("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!\n"]


def app_returning(status, headers, result, write=None):
    def app(env, sr):
        w = sr(status, headers)
        if write is not None:
            w(write)
        return result() if callable(result) else result
    return app


def raises(env, sr):
    raise RuntimeError("twins: the app raised")


APPS = [
    ("hello", hello),
    ("big body", app_returning("200 OK", [], [b"z" * 100000])),
    ("declared length", app_returning("200 OK", [("Content-Length", "3")], [b"abc"])),
    ("wrong declared length", app_returning("200 OK", [("Content-Length", "9")], [b"abc"])),
    ("204", app_returning("204 No Content", [], [b"ignored"])),
    ("str item", app_returning("200 OK", [], ["text"])),
    ("two items", app_returning("200 OK", [], [b"a", b"b"])),
    ("empty list", app_returning("200 OK", [], [])),
    ("generator", app_returning("200 OK", [], lambda: (x for x in [b"g1", b"g2"]))),
    ("write then list", app_returning("200 OK", [], [b"tail"], write=b"head")),
    ("header the C head declines", app_returning("200 OK", [("X", "\u20ac")], [b"x"])),
    ("no start_response", lambda env, sr: [b"x"]),
    ("raises", raises),
]


def check_respond():
    n = 0
    for name, app in APPS:
        for lane in (False, True):
            for head_only in (False, True):
                outs = []
                for fn in (None, c_respond):
                    sw._c_respond = fn
                    a, b = socket.socketpair()
                    b.setblocking(False)
                    resp = sw.Response(b.fileno(), lane, head_only, "HTTP/1.1")
                    block = vars_block([(b"REQUEST_METHOD", b"HEAD" if head_only else b"GET")])
                    env, _ = c_environ(block, 0, len(block), len(block), len(block), b.fileno())
                    chunks = []

                    def drain():
                        while True:
                            chunk = a.recv(1 << 20)
                            if not chunk:
                                return
                            chunks.append(chunk)
                    reader = threading.Thread(target=drain)
                    reader.start()
                    got = sw.run_app(app, env, resp)
                    b.shutdown(socket.SHUT_WR)
                    reader.join()
                    data = b"".join(chunks)
                    outs.append((got, data, resp.code, resp.body_bytes, resp.sent, resp.length, resp.chunked))
                    a.close()
                    b.close()
                sw._c_respond = c_respond
                if outs[0] != outs[1]:
                    py, c = ((o[0], o[1][:200]) + o[2:] for o in outs)
                    failures.append("respond %s lane=%s head_only=%s:\n  python: %r\n  C:      %r" % (name, lane, head_only, py, c))
                n += 1
    return n


def main():
    rng = random.Random(int(os.environ.get("TWINS_SEED", "1")))
    n_prepare = check_prepare() + check_accept() + check_scoreboard()
    real, sys.stderr = sys.stderr, open(os.devnull, "w")  # the raising apps' tracebacks
    try:
        n_respond = check_respond()
    finally:
        sys.stderr = real
    n_env = 0
    for name, block, body in corpus():
        for split in (False,):
            data = b"\x00\x00\x00\x00" + block + body
            check_environ(name, data, 4, 4 + len(block), 4 + len(block), len(data), split)
            # The body arriving later: none of it with the vars.
            check_environ(name + " (no body yet)", data, 4, 4 + len(block), 4 + len(block), 4 + len(block), split)
            n_env += 2
    for name, fields in [("split", [b"REQUEST_METHOD", b"GET", b"PATH_INFO", b"/x"]),
                         ("split odd", [b"REQUEST_METHOD", b"GET", b"PATH_INFO"]),
                         ("split repeated", [b"REQUEST_METHOD", b"GET", b"HTTP_X", b"1", b"HTTP_X", b"2"]),
                         ("split empty", [])]:
        block = split_block(fields)
        check_environ(name, block, 0, len(block), len(block), len(block), True)
        n_env += 1
    for case in random_environ_cases(rng, random_cases):
        check_environ(*case)
        n_env += 1
    n_head = handled = 0
    cases = [("nginx hello", "200 OK", [("Content-Type", "text/plain")], 14, "HTTP/1.1", False, False),
             ("lane chunked", "200 OK", [("Content-Type", "text/plain")], None, "HTTP/1.1", True, False),
             ("declared right", "200 OK", [("Content-Length", "5")], 5, "HTTP/1.1", True, False),
             ("declared wrong", "200 OK", [("Content-Length", "9")], 5, "HTTP/1.1", True, False),
             ("declared wrong, HEAD", "200 OK", [("Content-Length", "9")], 5, "HTTP/1.1", True, True),
             ("declared twice", "200 OK", [("Content-Length", "5"), ("content-length", "9")], 5, "HTTP/1.1", True, False),
             ("204", "204 No Content", [], 0, "HTTP/1.1", True, False),
             ("304 declared", "304 Not Modified", [("Content-Length", "10")], 0, "HTTP/1.1", True, False),
             ("injection", "200 OK", [("X", "a\r\nSet-Cookie: evil")], 0, "HTTP/1.1", False, False),
             ("non-latin-1", "200 OK", [("X", "\u20ac")], 0, "HTTP/1.1", False, False)]
    for case in cases + list(random_head_cases(rng, random_cases)):
        ok = check_head(*case)
        if not ok and case[0] in ("nginx hello", "lane chunked", "declared right", "declared wrong", "204"):
            failures.append("head %s: C declined the usual response" % case[0])
        handled += ok
        n_head += 1
    for f in failures[:20]:
        print(f)
    if failures:
        print("%d differences" % len(failures))
        sys.exit(1)
    print("ok: %d environs, %d heads (%d by C), %d prepares, %d responses" % (n_env, n_head, handled, n_prepare, n_respond))


main()
