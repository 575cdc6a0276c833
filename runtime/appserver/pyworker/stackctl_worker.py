"""stackctl worker: serves one WSGI application over the uwsgi protocol.

Started by the stackctl master, never by hand. The master passes, as
inherited file descriptors (numbers in the environment):

  STACKCTL_LISTEN_FD   the app's shared listening socket (nginx, Apache, uWSGI
                       clients): one request per connection, plain HTTP/1.x
                       response, then close.
  STACKCTL_LANE_FDS    one private, kept-alive connection per thread from the
                       stackctl proxy: uwsgi requests arrive back to back
                       (pipelined); every response is framed (Content-Length,
                       or chunked) so the connection survives it.
  STACKCTL_STATUS_FD   the status pipe to the master (records below).

  STACKCTL_SCOREBOARD_FD  shared memory with one 256-byte slot per thread,
                       where the worker keeps the request it is running (see
                       Scoreboard) without a system call per request.

Status records: 1 byte type, u16 LE payload length, payload. Finished records
are batched: written when 3.5 KB are pending, 50 ms after the last write, or
when the worker has nothing to do, so a busy worker costs the master a few
wake-ups a second, not one per request.
  R ready            JSON {"pid", "python"}
  E load error       UTF-8 traceback
  F request finished u8 thread, u16 status, u64 bytes, u32 microseconds, u8 flags (1 = app raised)
  L limit reached    UTF-8 reason; the worker has stopped accepting
  M message          u8 level (0 info, 1 warning, 2 error), UTF-8 text

Signals: SIGTERM = stop accepting, finish what is in flight, serve the lanes
until the master closes them, exit 0. SIGUSR2 = dump every thread's stack to
stderr (the master does this before killing a stuck worker).
"""

import errno
import faulthandler
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

_pack_hdr = struct.Struct("<BH").pack
_pack_f = struct.Struct("<BHQIB").pack
_unpack_h = struct.Struct("<H").unpack_from
_sb_head = struct.Struct("<QH").pack_into
_sb_seq = struct.Struct("<Q").pack_into
_monotonic_ns = time.monotonic_ns

# Reads ask for at most 64 KiB: a bigger buffer is above glibc's mmap
# threshold, and every read would cost mmap, mremap and munmap.
READ_SIZE = 65536

STATUS_FD = int(os.environ["STACKCTL_STATUS_FD"])
LISTEN_FD = int(os.environ.get("STACKCTL_LISTEN_FD", "-1"))
LANE_FDS = [int(x) for x in os.environ.get("STACKCTL_LANE_FDS", "").split(",") if x]
THREADS = int(os.environ.get("STACKCTL_THREADS", "1"))
MAX_REQUESTS = int(os.environ.get("STACKCTL_MAX_REQUESTS", "0"))
BUFFER_SIZE = int(os.environ.get("STACKCTL_BUFFER_SIZE", "65535"))
WORKER_ID = os.environ.get("STACKCTL_WORKER_ID", "0")
SCOREBOARD_FD = int(os.environ.get("STACKCTL_SCOREBOARD_FD", "-1"))
PARENT = os.getppid()

SLOT = 256          # scoreboard bytes per thread
LINE_MAX = SLOT - 18
FLUSH_BYTES = 3500  # under PIPE_BUF: one write is atomic
FLUSH_NS = 50_000_000

_status_lock = threading.Lock()


def status(kind, payload=b""):
    """Write one record to the master; records under PIPE_BUF are atomic."""
    try:
        os.write(STATUS_FD, _pack_hdr(kind, len(payload)) + payload)
    except OSError:
        os._exit(3)  # the master is gone


def message(level, text):
    status(77, bytes([level]) + text.encode("utf-8", "replace")[:3000])  # 'M'


# ---------------------------------------------------------------- WSGI bits

class FileWrapper:
    """wsgi.file_wrapper: iterates a file in blocks; the server sends it
    with sendfile when the file has a real descriptor."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        read = self.filelike.read
        while True:
            data = read(self.blksize)
            if not data:
                return
            yield data


class Input:
    """wsgi.input: the request body, never more than CONTENT_LENGTH bytes.

    Starts with the body bytes that arrived with the vars, then reads the
    rest from the connection."""

    __slots__ = ("fd", "buf", "pos", "remaining")

    def __init__(self, fd, initial, remaining):
        self.fd = fd
        self.buf = initial
        self.pos = 0
        self.remaining = remaining  # bytes still on the connection

    def _fill(self):
        # Returns False at the end of the body.
        if self.pos < len(self.buf):
            return True
        if self.remaining <= 0:
            return False
        try:
            data = os.read(self.fd, min(self.remaining, READ_SIZE))
        except BlockingIOError:
            select.select([self.fd], [], [], 60)
            data = os.read(self.fd, min(self.remaining, READ_SIZE))
        if not data:
            raise IOError("client closed the connection before sending the whole body")
        self.remaining -= len(data)
        self.buf = data
        self.pos = 0
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            parts = []
            while self._fill():
                parts.append(self.buf[self.pos:])
                self.pos = len(self.buf)
            return b"".join(parts)
        parts = []
        while size > 0 and self._fill():
            chunk = self.buf[self.pos:self.pos + size]
            self.pos += len(chunk)
            size -= len(chunk)
            parts.append(chunk)
        return b"".join(parts)

    def readline(self, size=-1):
        parts = []
        while self._fill():
            end = self.buf.find(b"\n", self.pos)
            stop = len(self.buf) if end < 0 else end + 1
            if size is not None and size >= 0:
                stop = min(stop, self.pos + size)
            chunk = self.buf[self.pos:stop]
            self.pos = stop
            parts.append(chunk)
            if size is not None and size >= 0:
                size -= len(chunk)
                if size <= 0:
                    break
            if chunk.endswith(b"\n"):
                break
        return b"".join(parts)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def drain(self):
        """Discard what the app did not read, so the connection stays in step."""
        self.pos = len(self.buf)
        while self.remaining > 0:
            try:
                data = os.read(self.fd, min(self.remaining, READ_SIZE))
            except BlockingIOError:
                if not select.select([self.fd], [], [], 60)[0]:
                    return False
                continue
            except OSError:
                return False
            if not data:
                return False
            self.remaining -= len(data)
        return True


class _EmptyInput:
    """The input of every bodiless request: stateless, so one is shared."""

    remaining = 0

    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return iter(())

    def drain(self):
        return True


EMPTY_INPUT = _EmptyInput()


class BadRequest(Exception):
    pass


def parse_vars(data, start, end):
    """Decode the vars block data[start:end] into an environ dict.

    The block is decoded once as latin-1 (PEP 3333's "bytes as native
    strings"); lengths come from the raw bytes with struct.unpack_from, the
    cheapest way Python has to read them. Repeated keys are joined with ", "
    ("; " for cookies), never silently dropped."""
    d = data[start:end]
    s = d.decode("latin-1")
    env = {}
    n = end - start
    pos = 0
    count = 0
    try:
        while pos < n:
            k = pos + 2
            pos = k + _unpack_h(d, pos)[0]
            v = pos + 2
            end_v = v + _unpack_h(d, pos)[0]
            if k == pos or end_v > n:
                raise BadRequest("empty key" if k == pos else "a var runs past the vars block")
            env[s[k:pos]] = s[v:end_v]
            pos = end_v
            count += 1
    except struct.error:
        raise BadRequest("a length runs past the vars block")
    if count != len(env):
        env = _join_repeated(s, d, n)
    return env


def parse_split_vars(data, start, end):
    """Decode a vars block in stackctl's lane encoding (modifier2 = 1):
    NUL-separated keys and values, one C-level split for the whole block."""
    parts = data[start:end].decode("latin-1").split("\x00")
    if len(parts) & 1:
        raise BadRequest("odd number of NUL-separated fields")
    it = iter(parts)
    return dict(zip(it, it))


def _join_repeated(s, d, n):
    env = {}
    pos = 0
    while pos < n:
        k = pos + 2
        pos = k + _unpack_h(d, pos)[0]
        v = pos + 2
        end_v = v + _unpack_h(d, pos)[0]
        key, val = s[k:pos], s[v:end_v]
        pos = end_v
        if key in env:
            env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + val
        else:
            env[key] = val
    return env


ERROR_BODY = b"Internal Server Error\n"


# The keys every environ starts with; the vars a front end sends replace them.
BASE = {
    "SCRIPT_NAME": "",
    "SERVER_NAME": "localhost",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": THREADS > 1,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
    "wsgi.file_wrapper": FileWrapper,
    "wsgi.input_terminated": True,
}


def environ_for(data, start, end, body_start, body_end, fd, split=False):
    """Build the environ for a request whose vars are data[start:end] and
    whose body starts at data[body_start:body_end] (what arrived so far);
    split selects the lane encoding of the vars. Returns the environ and
    how far into data the request reached. _stackctl_speedups.environ is
    its C twin."""
    env = BASE.copy()
    env.update(parse_split_vars(data, start, end) if split else parse_vars(data, start, end))
    if "REQUEST_METHOD" not in env:
        raise BadRequest("no REQUEST_METHOD")
    cl = env.get("CONTENT_LENGTH")
    if cl:
        try:
            length = int(cl)
            if length < 0:
                raise ValueError
        except ValueError:
            raise BadRequest("bad CONTENT_LENGTH %r" % cl)
        have = min(body_end - body_start, length)
        env["wsgi.input"] = Input(fd, data[body_start:body_start + have], length - have)
        consumed = body_start + have
    else:
        env["wsgi.input"] = EMPTY_INPUT
        consumed = body_start
    if env.get("HTTPS") in ("on", "1") or env.get("REQUEST_SCHEME") == "https" or env.get("UWSGI_SCHEME") == "https":
        env["wsgi.url_scheme"] = "https"
    if "HTTP_CONTENT_TYPE" in env:
        del env["HTTP_CONTENT_TYPE"]
    if "HTTP_CONTENT_LENGTH" in env:
        del env["HTTP_CONTENT_LENGTH"]
    sn = env["SCRIPT_NAME"]
    if sn:
        _split_script_name(env, sn)
    return env, consumed


def _split_script_name(env, sn):
    """A front end that sets SCRIPT_NAME but sends the whole path in PATH_INFO
    (nginx with uwsgi_param SCRIPT_NAME) gets it split; one that already split
    it (Apache's ProxyPass) is left alone."""
    if sn == "/":
        env["SCRIPT_NAME"] = ""
        return
    sn = sn.rstrip("/")
    env["SCRIPT_NAME"] = sn
    pi = env.get("PATH_INFO", "")
    if pi.startswith(sn) and (len(pi) == len(sn) or pi[len(sn)] == "/"):
        uri_path = env.get("REQUEST_URI", "").split("?", 1)[0]
        try:
            from urllib.parse import unquote_to_bytes
            uri_path = unquote_to_bytes(uri_path).decode("latin-1")
        except Exception:
            pass
        if uri_path != sn + pi:
            env["PATH_INFO"] = pi[len(sn):]


def check_headers(status, headers):
    """Reject what would corrupt the response: control characters in the
    status or a header, and a non-str status."""
    if type(status) is not str:
        raise TypeError("status must be str, not %s" % type(status).__name__)
    for k, v in headers:
        if type(k) is not str or type(v) is not str:
            raise TypeError("header names and values must be str")
    return True


class Response:
    """One response: start_response, write(), and the framing rules.

    lane=True frames the body (Content-Length or chunked); lane=False writes
    a plain HTTP/1.x response that ends when the connection closes."""

    __slots__ = ("fd", "lane", "head_only", "proto", "status", "headers", "sent",
                 "chunked", "length", "body_bytes", "code")

    def __init__(self, fd, lane, head_only, proto):
        self.fd = fd
        self.lane = lane
        self.head_only = head_only
        self.proto = proto
        self.status = None
        self.headers = None
        self.sent = False
        self.chunked = False
        self.length = None
        self.body_bytes = 0
        self.code = 0

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        self.status = status
        self.headers = headers
        return self.write

    def head(self, known_length):
        """Serialize the status line and headers. known_length is the body
        length when the whole body is known, else None."""
        if _c_head is not None:
            out = _c_head(self, known_length)
            if out is not None:
                return out
        return self.py_head(known_length)

    def py_head(self, known_length):
        """head() in Python; _stackctl_speedups.head is its C twin for the
        usual response and leaves the rest to it."""
        status = self.status
        try:
            self.code = code = int(status[:3])
        except (TypeError, ValueError):
            raise ValueError("bad status %r" % (status,))
        parts = [self.proto + " " + status]
        declared = None
        for k, v in self.headers:
            if len(k) == 14 and (k == "Content-Length" or k.lower() == "content-length"):
                try:
                    declared = int(v)
                except ValueError:
                    raise ValueError("bad Content-Length %r" % v)
                if known_length is not None and declared != known_length and not self.head_only:
                    continue  # the body we have wins over a wrong declaration
            parts.append(k + ": " + v)
        length = declared
        bodiless = code < 200 or code == 204 or code == 304
        if known_length is not None and not bodiless and (declared is None or (declared != known_length and not self.head_only)):
            parts.append("Content-Length: " + str(known_length))
            length = known_length
        if self.lane and length is None and not bodiless and not self.head_only:
            parts.append("Transfer-Encoding: chunked")
            self.chunked = True
        parts.append("\r\n")
        text = "\r\n".join(parts)
        # Every line ends in CRLF and nothing else holds a CR or LF: no
        # header injection, no response splitting.
        n = len(parts)
        if text.count("\n") != n or text.count("\r") != n:
            raise ValueError("control character in the status or a header")
        self.length = length
        self.sent = True
        return text.encode("latin-1")

    def write(self, data):
        """The write() callable of PEP 3333 (and the path for streamed bodies)."""
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise TypeError("write() argument must be bytes, not %s" % type(data).__name__)
        if self.status is None:
            raise AssertionError("write() before start_response")
        out = b""
        if not self.sent:
            out = self.head(None)
        if self.head_only or self.code in (204, 304) or self.code < 200:
            if out:
                send_all(self.fd, out)
            return
        if self.length is not None and self.body_bytes + len(data) > self.length:
            data = data[:self.length - self.body_bytes]  # never more than declared
        if data:
            self.body_bytes += len(data)
            if self.chunked:
                out += b"%x\r\n" % len(data) + data + b"\r\n"
            else:
                out += data
        if out:
            send_all(self.fd, out)

    def finish(self):
        """End the body; returns False when the framing could not be kept (a
        declared length was not reached) and the connection must close."""
        if not self.sent:
            send_all(self.fd, self.head(0))
            return True
        if self.chunked:
            send_all(self.fd, b"0\r\n\r\n")
            return True
        if self.lane and self.length is not None and not self.head_only and self.code >= 200 and self.code not in (204, 304):
            return self.body_bytes == self.length
        return True

    def abort(self):
        """The app failed after the head was sent. On a lane with chunked
        framing, mark the body as aborted and stay in step; otherwise the
        connection must close."""
        if self.chunked:
            send_all(self.fd, b"0;stackctl-abort\r\n\r\n")
            return True
        return False


def send_all(fd, data):
    """Write all of data; a full socket buffer waits (up to 60 s) for room."""
    view = None
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            if not select.select([], [fd], [], 60)[1]:
                raise TimeoutError("timed out writing the response")
            continue
        if n == len(data):
            return
        if view is None:
            view = memoryview(data)
            data = view
        data = data[n:]


def send_file(resp, wrapper):
    """Send a FileWrapper's file with sendfile when it has a descriptor."""
    f = wrapper.filelike
    try:
        infd = f.fileno()
        offset = f.tell()
        size = os.fstat(infd).st_size - offset
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False
    if size < 0:
        return False
    out = resp.head(size) if not resp.sent else b""
    if resp.head_only:
        send_all(resp.fd, out)
        return True
    if resp.length is not None:
        size = min(size, resp.length - resp.body_bytes)
    if resp.chunked:
        out += b"%x\r\n" % size
    if out:
        send_all(resp.fd, out)
    sent = 0
    while sent < size:
        try:
            n = os.sendfile(resp.fd, infd, offset + sent, size - sent)
        except BlockingIOError:
            select.select([], [resp.fd], [], 60)
            continue
        if n == 0:
            break
        sent += n
    resp.body_bytes += sent
    if resp.chunked:
        send_all(resp.fd, b"\r\n")
    return True


def run_app(app, env, resp):
    """Call the application and send its response. Returns (flags, keep),
    flags 1 when the app raised, keep False when the connection cannot be
    reused (on a lane: the framing was broken)."""
    result = None
    try:
        if _c_respond is not None:
            result = _c_respond(app, env, resp)
            if result is SENT:
                return 0, True
        else:
            result = app(env, resp.start_response)
        if type(result) is list and len(result) == 1 and not resp.sent:
            body = result[0]
            if type(body) is not bytes:
                raise TypeError("the application returned %s in its iterable, not bytes" % type(body).__name__)
            if resp.status is None:
                raise AssertionError("the application returned without calling start_response")
            head = resp.head(len(body))
            if resp.head_only or resp.code in (204, 304) or resp.code < 200:
                send_all(resp.fd, head)
            else:
                resp.body_bytes = len(body)
                if len(body) < 65536:
                    send_all(resp.fd, head + body)
                else:
                    send_all(resp.fd, head)
                    send_all(resp.fd, body)
            return 0, True
        if isinstance(result, FileWrapper) and resp.status is not None and send_file(resp, result):
            return 0, resp.finish()
        for data in result:
            if data:
                resp.write(data)
            elif not resp.sent and resp.status is not None:
                pass  # an empty first chunk sends nothing, per PEP 3333
        if resp.status is None:
            raise AssertionError("the application returned without calling start_response")
        return 0, resp.finish()
    except (BrokenPipeError, ConnectionResetError):
        return 0, False  # the client went away; nothing to tell it
    except Exception:
        print("[stackctl] error in %s %s:\n%s" % (env.get("REQUEST_METHOD"), env.get("REQUEST_URI") or env.get("PATH_INFO"), traceback.format_exc()), file=sys.stderr, end="")
        if not resp.sent:
            resp.status, resp.headers = "500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", str(len(ERROR_BODY)))]
            try:
                head = resp.head(len(ERROR_BODY))
                resp.body_bytes = len(ERROR_BODY)
                send_all(resp.fd, head if resp.head_only else head + ERROR_BODY)
                return 1, True
            except OSError:
                return 1, False
        try:
            return 1, resp.abort()
        except OSError:
            return 1, False
    finally:
        close = getattr(result, "close", None) if type(result) is not list else None
        if close is not None:
            try:
                close()
            except Exception:
                print("[stackctl] error in close():\n" + traceback.format_exc(), file=sys.stderr, end="")


# ---------------------------------------------------------------- the loops

class Worker:
    def __init__(self, app):
        self.app = app
        self.stopping = False
        self.accepting = LISTEN_FD >= 0
        self.requests = 0
        self.count_lock = threading.Lock()
        # Closing stop_w wakes every thread's poll at once, and keeps waking
        # them until each has unregistered stop_r.
        self.stop_r, self.stop_w = os.pipe()
        self.listener = None
        if LISTEN_FD >= 0:
            self.listener = socket.socket(fileno=LISTEN_FD)
            self.listener.setblocking(False)

    def count(self):
        """Count a request; at max_requests stop accepting and tell the master."""
        if not MAX_REQUESTS:
            return
        with self.count_lock:
            self.requests += 1
            if self.requests == MAX_REQUESTS:
                self.accepting = False
                status(76, b"max_requests")  # 'L'

    def stop(self, *_):
        """Stop accepting; serve the lanes until the master closes them."""
        self.accepting = False
        if not self.stopping:
            self.stopping = True
            try:
                os.close(self.stop_w)
            except OSError:
                pass


class Loop:
    """One thread's loop: its own lane plus accepting on the shared socket.

    The request a thread is running is kept in its scoreboard slot: u64 seq
    (odd while a request runs), u64 start (CLOCK_MONOTONIC ns), u16 length,
    then "METHOD URI". The sequence number is written last on start, so a
    reader that sees an odd seq sees that request's start time."""

    def __init__(self, worker, index, lane_fd):
        self.w = worker
        self.index = index
        self.lane = lane_fd
        self.buf = b""   # bytes read from the lane ...
        self.off = 0     # ... of which buf[:off] were consumed
        self.pending = b""  # finished records not yet written
        self.flushed = _monotonic_ns()
        self.seq = 0
        self.sb = index * SLOT
        self.lane_open = lane_fd >= 0
        if self.lane_open:
            os.set_blocking(lane_fd, False)

    def flush(self):
        if self.pending:
            status_raw(self.pending)
            self.pending = b""
        self.flushed = _monotonic_ns()

    def started(self, env, t0):
        self.seq = scoreboard_start(SCOREBOARD, self.sb, self.seq, t0, env)

    def finished(self, code, nbytes, t0, flags):
        now = _monotonic_ns()
        if SCOREBOARD is not None:
            self.seq += 1
            _sb_seq(SCOREBOARD, self.sb, self.seq)
        rec = _pack_f(self.index, code, nbytes, min((now - t0) // 1000, 0xFFFFFFFF), flags)
        self.pending += _pack_hdr(70, 16) + rec  # 'F'
        if len(self.pending) > FLUSH_BYTES or now - self.flushed > FLUSH_NS:
            self.flush()
        if MAX_REQUESTS:
            self.w.count()

    def run(self):
        w = self.w
        poller = select.poll()
        if self.lane_open:
            poller.register(self.lane, select.POLLIN)
        listen_fd = -1
        if w.listener is not None and w.accepting:
            listen_fd = w.listener.fileno()
            poller.register(listen_fd, select.POLLIN)
        poller.register(w.stop_r, select.POLLIN)
        listen_ready = False
        while True:
            # Requests already buffered on the lane come first: the proxy
            # pipelined them and they are waiting.
            if self.lane_open and self.off < len(self.buf) and self.serve_lane_buffered():
                continue
            if listen_ready:
                if w.accepting and self.accept_one():
                    continue
                listen_ready = False
            if not w.accepting and listen_fd >= 0:
                poller.unregister(listen_fd)
                listen_fd = -1
            if w.stopping and not self.lane_open:
                self.flush()
                return
            # Idle. Records still pending go out within 50 ms, not at once:
            # under load the worker idles for microseconds at a time.
            timeout = 1000
            if self.pending:
                timeout = max(0, FLUSH_NS - (_monotonic_ns() - self.flushed)) // 1_000_000
            events = poller.poll(timeout)
            if not events:
                self.flush()
                if os.getppid() != PARENT:
                    os._exit(2)  # orphaned: the master is gone
            for fd, ev in events:
                if fd == self.lane:
                    self.read_lane()
                elif fd == listen_fd:
                    listen_ready = True
                elif fd == w.stop_r:
                    poller.unregister(w.stop_r)

    def read_lane(self):
        try:
            data = os.read(self.lane, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # The master closed the lane: it wants no more from this thread.
            self.close_lane()
            self.w.stop()
            return
        if self.off < len(self.buf):
            self.buf = self.buf[self.off:] + data
        else:
            self.buf = data
        self.off = 0

    def close_lane(self):
        if self.lane_open:
            self.lane_open = False
            try:
                os.close(self.lane)
            except OSError:
                pass
            self.lane = -1
            self.buf = b""
            self.off = 0

    def serve_lane_buffered(self):
        """Serve one request from the lane buffer if it is complete; returns
        False when more bytes are needed."""
        buf = self.buf
        off = self.off
        n = len(buf)
        if n - off < 4:
            return False
        size = buf[off + 1] | (buf[off + 2] << 8)
        end = off + 4 + size
        if n < end:
            if size > BUFFER_SIZE:
                self.lane_fail("vars block of %d bytes exceeds buffer_size %d" % (size, BUFFER_SIZE))
            return False
        t0 = _monotonic_ns()
        try:
            env, consumed = environ_for(buf, off + 4, end, end, n, self.lane, buf[off + 3] == 1)
        except BadRequest as e:
            self.lane_fail(str(e))
            return True
        inp = env["wsgi.input"]
        # Bytes after this request's body (the next pipelined request) stay.
        self.off = consumed
        self.started(env, t0)
        resp = Response(self.lane, True, env["REQUEST_METHOD"] == "HEAD", "HTTP/1.1")
        flags, keep = run_app(self.w.app, env, resp)
        if inp.remaining and not inp.drain():
            keep = False
        self.finished(resp.code or 500, resp.body_bytes, t0, flags)
        if not keep:
            self.lane_fail("the response could not be framed (the app declared a Content-Length it did not send)")
        return True

    def lane_fail(self, why):
        """The lane is out of step: close it. Requests behind the current one
        were never started, so the proxy may resend them anywhere."""
        message(2, "lane %d closed: %s" % (self.index, why))
        self.close_lane()
        self.w.stop()

    def accept_one(self):
        try:
            fd = accept(self.w.listener)
            if fd is None:
                return False
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                message(2, "accept: %s" % e)
                time.sleep(0.1)
                return False
            if e.errno in (errno.ECONNABORTED, errno.EPROTO):
                return True
            raise
        try:
            self.serve_conn(fd)
        finally:
            os.close(fd)
        return True

    def serve_conn(self, fd):
        """One request on a connection from the shared socket."""
        r = prepare(fd, BUFFER_SIZE, SCOREBOARD, self.sb, self.seq)
        if type(r) is not tuple:
            if r is not None:
                message(1, r)
            return
        env, t0, self.seq = r
        # The app may replace wsgi.input (wsgiref.validate does): keep ours.
        inp = env["wsgi.input"]
        proto = env.get("SERVER_PROTOCOL")
        if proto != "HTTP/1.0":
            proto = "HTTP/1.1"
        resp = Response(fd, False, env["REQUEST_METHOD"] == "HEAD", proto)
        flags, _ = run_app(self.w.app, env, resp)
        if inp.remaining:
            inp.drain()
        self.finished(resp.code or 500, resp.body_bytes, t0, flags)


def accept(listener):
    """A connection from the (non-blocking) listening socket: its
    descriptor, blocking and close-on-exec; None when there is none yet.
    _stackctl_speedups.accept is its C twin, which spares the exception."""
    try:
        return listener._accept()[0]
    except (BlockingIOError, InterruptedError):
        return None


def prepare(fd, buffer_size, scoreboard, slot_offset, seq):
    """Read one request from a connection and build its environ; mark the
    scoreboard slot busy with it. Returns (env, t0, seq), or why the
    connection is closed (a str for the log), or None (closed without a
    word). _stackctl_speedups.prepare is its C twin."""
    t0 = _monotonic_ns()
    try:
        data = os.read(fd, 65536)
        while len(data) < 4 or len(data) < 4 + (data[1] | (data[2] << 8)):
            if not data:
                return None  # connected and closed: a health probe
            if len(data) >= 4 and (data[1] | (data[2] << 8)) > buffer_size:
                break  # refused below, without waiting for the rest
            more = os.read(fd, 65536)
            if not more:
                return "closed a connection: truncated uwsgi packet (%d bytes)" % len(data)
            data += more
    except BlockingIOError:
        return "closed a connection: timed out reading the request"
    except OSError as e:
        return "closed a connection: read: %s" % e
    if data[0] != 0:
        return "closed a connection: unsupported modifier1 %d" % data[0]
    size = data[1] | (data[2] << 8)
    if size > buffer_size:
        return "closed a connection: vars block of %d bytes exceeds buffer_size %d" % (size, buffer_size)
    end = 4 + size
    try:
        env, _ = environ_for(data, 4, end, end, len(data), fd)
    except BadRequest as e:
        return "closed a connection: malformed uwsgi packet: %s" % e
    return env, t0, scoreboard_start(scoreboard, slot_offset, seq, t0, env)


def scoreboard_start(sb, off, seq, t0, env):
    """Mark a thread's scoreboard slot (at off) busy with the request in env;
    returns the slot's new sequence number. _stackctl_speedups has its C
    twin."""
    if sb is None:
        return seq
    line = (env["REQUEST_METHOD"] + " " + (env.get("REQUEST_URI") or env.get("PATH_INFO", ""))).encode("latin-1", "replace")[:LINE_MAX]
    _sb_head(sb, off + 8, t0, len(line))
    sb[off + 18:off + 18 + len(line)] = line
    seq += 1
    _sb_seq(sb, off, seq)
    return seq


SCOREBOARD = None


def status_raw(data):
    try:
        os.write(STATUS_FD, data)
    except OSError:
        os._exit(3)


# ---------------------------------------------------------------- start-up

_c_head = _c_respond = None
SENT = object()  # _c_respond's "the response went out"


def load_speedups(path, required=False):
    """Load the C twins of the hot spots (_stackctl_speedups.c), built by the
    master, from path. Without them the worker runs the Python versions,
    unless they are required."""
    global environ_for, prepare, scoreboard_start, accept, _c_head, _c_respond
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location("_stackctl_speedups", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.configure(BASE, Input, EMPTY_INPUT, BadRequest, _split_script_name, SENT)
    except Exception as e:
        if required:
            raise ImportError("speedups required but not loaded from %s: %s" % (path, e))
        message(1, "speedups not loaded, running the Python versions: %s" % e)
        return None
    environ_for, prepare, scoreboard_start, accept = mod.environ, mod.prepare, mod.scoreboard_start, mod.accept
    _c_head, _c_respond = mod.head, mod.respond
    return mod


def load_app():
    spec = os.environ["STACKCTL_MODULE"]
    modname, _, expr = spec.partition(":")
    expr = expr or "application"
    call = expr.endswith("()")
    if call:
        expr = expr[:-2]
    module = __import__(modname, fromlist=["_"])
    obj = module
    for part in expr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError("module %r has no attribute %r (from %r)" % (modname, part, spec))
    if call:
        obj = obj()
    if not callable(obj):
        raise TypeError("%s is not callable (it is %s)" % (spec, type(obj).__name__))
    return obj


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's ^C is the master's business
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    chdir = os.environ.get("STACKCTL_CHDIR")
    if chdir:
        os.chdir(chdir)
    paths = [p for p in os.environ.get("STACKCTL_PYTHONPATH", "").split(os.pathsep) if p]
    for p in reversed(paths + [chdir or os.getcwd()]):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        if os.environ.get("STACKCTL_SPEEDUPS"):
            load_speedups(os.environ["STACKCTL_SPEEDUPS"], bool(os.environ.get("STACKCTL_SPEEDUPS_REQUIRED")))
        app = load_app()
        BASE["wsgi.errors"] = sys.stderr  # as the app left it
    except BaseException:
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        status(69, tb.encode("utf-8", "replace")[:60000])  # 'E'
        sys.stderr.flush()
        os._exit(4)
    global SCOREBOARD
    if SCOREBOARD_FD >= 0:
        import mmap
        SCOREBOARD = mmap.mmap(SCOREBOARD_FD, SLOT * THREADS)
    worker = Worker(app)
    signal.signal(signal.SIGTERM, worker.stop)
    loops = []
    for i in range(THREADS):
        lane = LANE_FDS[i] if i < len(LANE_FDS) else -1
        loops.append(Loop(worker, i, lane))
    status(82, json.dumps({"pid": os.getpid(), "python": sys.version.split()[0], "speedups": _c_head is not None}).encode())  # 'R'
    threads = [threading.Thread(target=guard, args=(lp,), name="stackctl-%d" % lp.index, daemon=True) for lp in loops[1:]]
    for t in threads:
        t.start()
    guard(loops[0])
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def guard(loop):
    try:
        loop.run()
    except BaseException:
        message(2, "worker loop %d crashed:\n%s" % (loop.index, traceback.format_exc()))
        sys.stderr.flush()
        os._exit(5)


def profiled(fn):
    """With STACKCTL_PROFILE=PREFIX, run fn under cProfile and write the
    stats to PREFIX.PID when the worker stops (for benchmarks: the cost of
    each function per request)."""
    prefix = os.environ.get("STACKCTL_PROFILE")
    if not prefix:
        return fn
    import cProfile

    def run():
        prof = cProfile.Profile()
        real_exit = os._exit

        def exit_with_stats(code):
            prof.disable()
            prof.dump_stats("%s.%d" % (prefix, os.getpid()))
            real_exit(code)
        os._exit = exit_with_stats
        prof.enable()
        fn()
    return run


if __name__ == "__main__":
    profiled(main)()
