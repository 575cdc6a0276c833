/* _stackctl_speedups: C versions of the worker's per-request hot spots.
 *
 * stackctl_worker.py is complete without this module: every function here
 * has a pure-Python twin there that defines the behaviour — environ
 * (environ_for), prepare (prepare), scoreboard_start (scoreboard_start),
 * accept (accept), head (Response.py_head) and respond (run_app's path for a response that
 * is one bytes object in a list) — and testdata/twins.py runs both and
 * compares them. The master compiles this file once per interpreter
 * (appserver/speedups.go) when a C compiler and Python's headers are
 * present; a worker that cannot load it runs the Python versions.
 *
 * Contract: each function either does exactly what its twin does, or
 * declines (head returns None, respond returns the app's result) so the
 * caller carries on with the twin — it never guesses. Errors the twin would
 * raise for bad input (BadRequest for a malformed vars block) are raised
 * with the same class. Blocking system calls release the GIL, as the
 * twins' os.read, os.write and socket.accept do. */
#define _GNU_SOURCE /* accept4 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static PyObject *g_sent, *s_start_response, *s_fd, *s_body_bytes;
static PyObject *g_zero, *g_base, *g_input, *g_empty_input, *g_bad_request, *g_split_script_name;
static PyObject *s_REQUEST_METHOD, *s_CONTENT_LENGTH, *s_HTTPS, *s_REQUEST_SCHEME, *s_UWSGI_SCHEME,
    *s_HTTP_CONTENT_TYPE, *s_HTTP_CONTENT_LENGTH, *s_SCRIPT_NAME, *s_HTTP_COOKIE, *s_wsgi_input,
    *s_wsgi_url_scheme, *s_https, *s_status, *s_headers, *s_proto, *s_head_only, *s_lane, *s_code,
    *s_length, *s_chunked, *s_sent, *s_REQUEST_URI, *s_PATH_INFO;

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *base, *input, *empty, *bad, *split, *sent;
    if (!PyArg_ParseTuple(args, "O!OOOOO", &PyDict_Type, &base, &input, &empty, &bad, &split, &sent))
        return NULL;
    Py_XSETREF(g_sent, Py_NewRef(sent));
    Py_XSETREF(g_base, Py_NewRef(base));
    Py_XSETREF(g_input, Py_NewRef(input));
    Py_XSETREF(g_empty_input, Py_NewRef(empty));
    Py_XSETREF(g_bad_request, Py_NewRef(bad));
    Py_XSETREF(g_split_script_name, Py_NewRef(split));
    Py_RETURN_NONE;
}

static int bad_request(const char *why) {
    PyErr_SetString(g_bad_request ? g_bad_request : PyExc_ValueError, why);
    return -1;
}

/* Join a repeated key's values as the twin does: ", ", or "; " for cookies. */
static int set_or_join(PyObject *env, PyObject *key, PyObject *val) {
    PyObject *old = PyDict_GetItemWithError(env, key);
    if (old == NULL) {
        if (PyErr_Occurred())
            return -1;
        return PyDict_SetItem(env, key, val);
    }
    int cookie = PyUnicode_Compare(key, s_HTTP_COOKIE) == 0;
    PyObject *joined = PyUnicode_FromFormat("%U%s%U", old, cookie ? "; " : ", ", val);
    if (joined == NULL)
        return -1;
    int rc = PyDict_SetItem(env, key, joined);
    Py_DECREF(joined);
    return rc;
}

/* Front ends send the same keys on every request and mostly the same values
 * (method, protocol, host, addresses): a small cache, one entry per key,
 * hands back the str made last time when the bytes are the same, so the
 * usual request allocates and hashes only the values that changed. The
 * GIL guards it; strs are immutable, so sharing them is safe. */
#define CACHE_SLOTS 256
#define CACHE_KEY_MAX 64
#define CACHE_VAL_MAX 256
static struct {
    PyObject *key, *val;
} cache[CACHE_SLOTS];

static int same(PyObject *s, const unsigned char *p, Py_ssize_t n) {
    return s != NULL && PyUnicode_GET_LENGTH(s) == n && PyUnicode_KIND(s) == PyUnicode_1BYTE_KIND &&
           memcmp(PyUnicode_1BYTE_DATA(s), p, n) == 0;
}

/* New references to the key and value strs for these bytes. */
static int decode_pair(const unsigned char *k, Py_ssize_t kl, const unsigned char *v, Py_ssize_t vl, PyObject **key,
                       PyObject **val) {
    if (kl > CACHE_KEY_MAX) {
        *key = PyUnicode_DecodeLatin1((const char *)k, kl, NULL);
        *val = *key ? PyUnicode_DecodeLatin1((const char *)v, vl, NULL) : NULL;
        if (*val == NULL) {
            Py_CLEAR(*key);
            return -1;
        }
        return 0;
    }
    unsigned h = 2166136261u;
    for (Py_ssize_t i = 0; i < kl; i++)
        h = (h ^ k[i]) * 16777619u;
    h = (h ^ (h >> 16)) & (CACHE_SLOTS - 1);
    if (!same(cache[h].key, k, kl)) {
        PyObject *nk = PyUnicode_DecodeLatin1((const char *)k, kl, NULL);
        if (nk == NULL)
            return -1;
        Py_XSETREF(cache[h].key, nk);
        Py_CLEAR(cache[h].val);
    }
    *key = Py_NewRef(cache[h].key);
    if (same(cache[h].val, v, vl)) {
        *val = Py_NewRef(cache[h].val);
        return 0;
    }
    *val = PyUnicode_DecodeLatin1((const char *)v, vl, NULL);
    if (*val == NULL) {
        Py_CLEAR(*key);
        return -1;
    }
    if (vl <= CACHE_VAL_MAX)
        Py_XSETREF(cache[h].val, Py_NewRef(*val));
    return 0;
}

/* The uwsgi vars block: u16le key length, key, u16le value length, value.
 * Parsed into an empty dict, as the twin does: a key repeated in the block
 * is joined, a key that is also in the base environ replaces it. */
static int parse_vars_into(PyObject *env, const unsigned char *d, Py_ssize_t n) {
    Py_ssize_t pos = 0, count = 0;
    int joining = 0;
    while (pos < n) {
        if (pos + 2 > n)
            return bad_request("a length runs past the vars block");
        Py_ssize_t kl = d[pos] | (d[pos + 1] << 8);
        Py_ssize_t k = pos + 2;
        if (k + kl + 2 > n)
            return bad_request("a length runs past the vars block");
        Py_ssize_t vl = d[k + kl] | (d[k + kl + 1] << 8);
        Py_ssize_t v = k + kl + 2;
        if (kl == 0)
            return bad_request("empty key");
        if (v + vl > n)
            return bad_request("a var runs past the vars block");
        PyObject *key, *val;
        if (decode_pair(d + k, kl, d + v, vl, &key, &val) < 0)
            return -1;
        int rc = joining ? set_or_join(env, key, val) : PyDict_SetItem(env, key, val);
        Py_DECREF(key);
        Py_DECREF(val);
        if (rc < 0)
            return -1;
        pos = v + vl;
        count++;
        if (!joining && PyDict_GET_SIZE(env) != count) {
            /* A key seen before: start over, joining repeated values. */
            joining = 1;
            pos = 0;
            PyDict_Clear(env);
        }
    }
    return 0;
}

/* The lane encoding (modifier2 = 1): NUL-separated keys and values. */
static int parse_split_vars_into(PyObject *env, const char *d, Py_ssize_t n) {
    Py_ssize_t pos = 0;
    PyObject *key = NULL;
    for (;;) {
        const char *nul = memchr(d + pos, 0, n - pos);
        Py_ssize_t end = nul ? nul - d : n;
        PyObject *s = PyUnicode_DecodeLatin1(d + pos, end - pos, NULL);
        if (s == NULL) {
            Py_XDECREF(key);
            return -1;
        }
        if (key == NULL) {
            key = s;
        } else {
            int rc = PyDict_SetItem(env, key, s);
            Py_DECREF(key);
            Py_DECREF(s);
            key = NULL;
            if (rc < 0)
                return -1;
        }
        if (nul == NULL)
            break;
        pos = end + 1;
    }
    if (key != NULL) {
        Py_DECREF(key);
        return bad_request("odd number of NUL-separated fields");
    }
    return 0;
}

static int is_https(PyObject *env, PyObject *key, const char *a, const char *b) {
    PyObject *v = PyDict_GetItemWithError(env, key);
    if (v == NULL || !PyUnicode_Check(v))
        return 0;
    return PyUnicode_CompareWithASCIIString(v, a) == 0 || (b && PyUnicode_CompareWithASCIIString(v, b) == 0);
}

/* environ(data, start, end, body_start, body_end, fd, split) -> (env, consumed)
 * The twin of environ_for (without the app argument: configure() gave the
 * base environ). */
static PyObject *environ_core(const char *d, Py_ssize_t len, Py_ssize_t start, Py_ssize_t end, Py_ssize_t body_start,
                              Py_ssize_t body_end, int fd, int split) {
    if (g_base == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() first");
        return NULL;
    }
    if (start < 0 || end > len || start > end || body_start < 0 || body_end > len || body_start > body_end) {
        PyErr_SetString(PyExc_ValueError, "offsets outside the buffer");
        return NULL;
    }
    PyObject *result = NULL, *env = PyDict_New();
    if (env == NULL)
        return NULL;
    if ((split ? parse_split_vars_into(env, d + start, end - start)
               : parse_vars_into(env, (const unsigned char *)d + start, end - start)) < 0)
        goto done;
    /* base.copy().update(vars), in one dict: the base fills what the
     * vars did not set. */
    if (PyDict_Merge(env, g_base, 0) < 0)
        goto done;
    if (PyDict_GetItemWithError(env, s_REQUEST_METHOD) == NULL) {
        if (!PyErr_Occurred())
            bad_request("no REQUEST_METHOD");
        goto done;
    }
    Py_ssize_t consumed = body_start;
    PyObject *cl = PyDict_GetItemWithError(env, s_CONTENT_LENGTH);
    if (cl == NULL && PyErr_Occurred())
        goto done;
    if (cl != NULL && PyUnicode_Check(cl) && PyUnicode_GET_LENGTH(cl) > 0) {
        /* int() accepts what Python accepts (spaces, underscores, any
         * size): the twin uses int(), so this does too. */
        PyObject *num = PyLong_FromUnicodeObject(cl, 10);
        if (num == NULL || PyObject_RichCompareBool(num, g_zero, Py_LT) != 0) {
            Py_XDECREF(num);
            PyErr_Clear();
            PyErr_Format(g_bad_request, "bad CONTENT_LENGTH %R", cl);
            goto done;
        }
        Py_ssize_t have = body_end - body_start;
        int overflow = 0;
        long long length = PyLong_AsLongLongAndOverflow(num, &overflow);
        if (!overflow && (long long)have > length)
            have = (Py_ssize_t)length;
        PyObject *have_obj = PyLong_FromSsize_t(have);
        PyObject *remaining = have_obj ? PyNumber_Subtract(num, have_obj) : NULL;
        Py_DECREF(num);
        Py_XDECREF(have_obj);
        if (remaining == NULL)
            goto done;
        PyObject *initial = PyBytes_FromStringAndSize(d + body_start, have);
        if (initial == NULL) {
            Py_DECREF(remaining);
            goto done;
        }
        PyObject *inp = PyObject_CallFunction(g_input, "iNN", fd, initial, remaining);
        if (inp == NULL)
            goto done;
        int rc = PyDict_SetItem(env, s_wsgi_input, inp);
        Py_DECREF(inp);
        if (rc < 0)
            goto done;
        consumed = body_start + have;
    } else if (PyDict_SetItem(env, s_wsgi_input, g_empty_input) < 0) {
        goto done;
    }
    if (is_https(env, s_HTTPS, "on", "1") || is_https(env, s_REQUEST_SCHEME, "https", NULL) ||
        is_https(env, s_UWSGI_SCHEME, "https", NULL)) {
        if (PyDict_SetItem(env, s_wsgi_url_scheme, s_https) < 0)
            goto done;
    }
    if (PyErr_Occurred())
        goto done;
    /* Looked up first: a failed delete would build a KeyError. */
    if (PyDict_GetItemWithError(env, s_HTTP_CONTENT_TYPE) != NULL && PyDict_DelItem(env, s_HTTP_CONTENT_TYPE) < 0)
        goto done;
    if (PyDict_GetItemWithError(env, s_HTTP_CONTENT_LENGTH) != NULL && PyDict_DelItem(env, s_HTTP_CONTENT_LENGTH) < 0)
        goto done;
    if (PyErr_Occurred())
        goto done;
    PyObject *sn = PyDict_GetItemWithError(env, s_SCRIPT_NAME);
    if (sn == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, s_SCRIPT_NAME);
        goto done;
    }
    if (PyObject_IsTrue(sn)) {
        PyObject *r = PyObject_CallFunctionObjArgs(g_split_script_name, env, sn, NULL);
        if (r == NULL)
            goto done;
        Py_DECREF(r);
    }
    result = Py_BuildValue("On", env, consumed);
done:
    Py_DECREF(env);
    return result;
}

static PyObject *build_environ(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t start, end, body_start, body_end;
    int fd, split = 0;
    if (!PyArg_ParseTuple(args, "y*nnnni|p", &buf, &start, &end, &body_start, &body_end, &fd, &split))
        return NULL;
    PyObject *r = environ_core(buf.buf, buf.len, start, end, body_start, body_end, fd, split);
    PyBuffer_Release(&buf);
    return r;
}

/* A growing byte buffer for the response head. */
typedef struct {
    char *p;
    Py_ssize_t len, cap;
    char small[1024];
} out_t;

static int out_put(out_t *o, const void *s, Py_ssize_t n) {
    if (o->len + n > o->cap) {
        Py_ssize_t cap = (o->len + n) * 2;
        char *p = o->p == o->small ? PyMem_Malloc(cap) : PyMem_Realloc(o->p, cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (o->p == o->small)
            memcpy(p, o->small, o->len);
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

/* A str that is all latin-1 (what .encode("latin-1") accepts) and holds no
 * CR or LF; its bytes in *s, *n. Anything else is the twin's to judge. */
static int plain_latin1(PyObject *o, const char **s, Py_ssize_t *n) {
    if (!PyUnicode_CheckExact(o) || PyUnicode_KIND(o) != PyUnicode_1BYTE_KIND)
        return 0;
    *s = (const char *)PyUnicode_1BYTE_DATA(o);
    *n = PyUnicode_GET_LENGTH(o);
    return memchr(*s, '\r', *n) == NULL && memchr(*s, '\n', *n) == NULL;
}

static int is_content_length(const char *k, Py_ssize_t n) {
    return n == 14 && strncasecmp(k, "content-length", 14) == 0;
}

/* Parse a declared Content-Length as int() would for the usual forms
 * (ASCII digits only); 0 means "let the twin decide". */
static int digits(const char *s, Py_ssize_t n, long long *v) {
    if (n == 0 || n > 18)
        return 0;
    long long x = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

/* The response head of resp, or None: the twin of Response.head for the
 * usual response (a str status with a three-digit code, a list of (str,
 * str) tuples, latin-1 text without CR or LF). It sets resp.code,
 * resp.length, resp.chunked and resp.sent as the twin does. known_length
 * is the body's length, < 0 when it is not known. */
static PyObject *head_for(PyObject *resp, long long known_length) {
    PyObject *status = NULL, *headers = NULL, *proto = NULL, *ho = NULL, *lane = NULL, *ret = NULL;
    out_t o = {.len = 0, .cap = sizeof o.small};
    o.p = o.small;
    status = PyObject_GetAttr(resp, s_status);
    headers = status ? PyObject_GetAttr(resp, s_headers) : NULL;
    proto = headers ? PyObject_GetAttr(resp, s_proto) : NULL;
    ho = proto ? PyObject_GetAttr(resp, s_head_only) : NULL;
    lane = ho ? PyObject_GetAttr(resp, s_lane) : NULL;
    if (lane == NULL)
        goto fail;
    int head_only = PyObject_IsTrue(ho), is_lane = PyObject_IsTrue(lane);
    const char *st, *pr;
    Py_ssize_t stn, prn;
    if (!plain_latin1(status, &st, &stn) || !plain_latin1(proto, &pr, &prn) || !PyList_CheckExact(headers))
        goto decline;
    if (stn < 3 || st[0] < '0' || st[0] > '9' || st[1] < '0' || st[1] > '9' || st[2] < '0' || st[2] > '9')
        goto decline;
    int code = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
    if (out_put(&o, pr, prn) < 0 || out_put(&o, " ", 1) < 0 || out_put(&o, st, stn) < 0)
        goto fail;
    long long declared = -1;
    int declarations = 0;
    Py_ssize_t nh = PyList_GET_SIZE(headers);
    /* Check every header before writing any: a list the twin would reject
     * (or that changes under us) goes to the twin whole. */
    for (Py_ssize_t i = 0; i < nh; i++) {
        PyObject *t = PyList_GET_ITEM(headers, i);
        const char *k, *v;
        Py_ssize_t kn, vn;
        if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 2 || !plain_latin1(PyTuple_GET_ITEM(t, 0), &k, &kn) ||
            !plain_latin1(PyTuple_GET_ITEM(t, 1), &v, &vn))
            goto decline;
        if (is_content_length(k, kn)) {
            long long x;
            if (!digits(v, vn, &x) || ++declarations > 1)
                goto decline;
            declared = x;
        }
    }
    for (Py_ssize_t i = 0; i < nh; i++) {
        PyObject *t = PyList_GET_ITEM(headers, i);
        const char *k = (const char *)PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(t, 0));
        const char *v = (const char *)PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(t, 1));
        Py_ssize_t kn = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(t, 0)), vn = PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(t, 1));
        if (is_content_length(k, kn) && known_length >= 0 && declared != known_length && !head_only)
            continue; /* the body we have wins over a wrong declaration */
        if (out_put(&o, "\r\n", 2) < 0 || out_put(&o, k, kn) < 0 || out_put(&o, ": ", 2) < 0 ||
            out_put(&o, v, vn) < 0)
            goto fail;
    }
    long long length = declared;
    int bodiless = code < 200 || code == 204 || code == 304;
    if (known_length >= 0 && !bodiless && (declared < 0 || (declared != known_length && !head_only))) {
        char num[32];
        int nn = snprintf(num, sizeof num, "\r\nContent-Length: %lld", known_length);
        if (out_put(&o, num, nn) < 0)
            goto fail;
        length = known_length;
    }
    int chunked = 0;
    if (is_lane && length < 0 && !bodiless && !head_only) {
        if (out_put(&o, "\r\nTransfer-Encoding: chunked", 28) < 0)
            goto fail;
        chunked = 1;
    }
    if (out_put(&o, "\r\n\r\n", 4) < 0)
        goto fail;
    PyObject *codeobj = PyLong_FromLong(code);
    PyObject *lenobj = length < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(length);
    int rc = -1;
    if (codeobj != NULL && lenobj != NULL)
        rc = (PyObject_SetAttr(resp, s_code, codeobj) < 0 || PyObject_SetAttr(resp, s_length, lenobj) < 0 ||
              (chunked && PyObject_SetAttr(resp, s_chunked, Py_True) < 0) ||
              PyObject_SetAttr(resp, s_sent, Py_True) < 0)
                 ? -1
                 : 0;
    Py_XDECREF(codeobj);
    Py_XDECREF(lenobj);
    if (rc == 0)
        ret = PyBytes_FromStringAndSize(o.p, o.len);
    goto fail;
decline:
    ret = Py_NewRef(Py_None);
fail:
    if (o.p != o.small)
        PyMem_Free(o.p);
    Py_XDECREF(status);
    Py_XDECREF(headers);
    Py_XDECREF(proto);
    Py_XDECREF(ho);
    Py_XDECREF(lane);
    return ret;
}

/* head(resp, known_length) -> bytes, or None for the twin. */
static PyObject *head(PyObject *self, PyObject *args) {
    PyObject *resp, *known;
    if (!PyArg_ParseTuple(args, "OO", &resp, &known))
        return NULL;
    long long known_length = -1;
    if (known != Py_None) {
        known_length = PyLong_AsLongLong(known);
        if (known_length < 0) {
            PyErr_Clear();
            Py_RETURN_NONE; /* the twin's to judge */
        }
    }
    return head_for(resp, known_length);
}

/* ------------------------------------------------------------ a connection */

static long long monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* read(2) without the GIL, retrying EINTR after running the signal handlers
 * (as os.read does). Returns the count, or -1 with errno set; -2 when a
 * signal handler raised. */
static Py_ssize_t read_fd(int fd, char *p, Py_ssize_t n) {
    for (;;) {
        Py_ssize_t r;
        Py_BEGIN_ALLOW_THREADS r = read(fd, p, n);
        Py_END_ALLOW_THREADS if (r >= 0 || errno != EINTR) return r;
        if (PyErr_CheckSignals() < 0)
            return -2;
    }
}

#define SLOT_LINE_MAX (256 - 18)

/* The scoreboard slot at off: u64 seq, u64 start, u16 length, then
 * "METHOD URI" (Loop.started's layout). seq is stored last, with release
 * order, so a reader that sees it odd sees this request's start. */
static int scoreboard_start(PyObject *sb, Py_ssize_t off, unsigned long long seq, long long t0, PyObject *env) {
    if (sb == Py_None)
        return 0;
    PyObject *method = PyDict_GetItemWithError(env, s_REQUEST_METHOD);
    PyObject *uri = PyDict_GetItemWithError(env, s_REQUEST_URI);
    if (uri == NULL || !PyObject_IsTrue(uri))
        uri = PyDict_GetItemWithError(env, s_PATH_INFO);
    if (PyErr_Occurred())
        return -1;
    PyObject *line = method && uri ? PyUnicode_FromFormat("%S %S", method, uri)
                                   : PyUnicode_FromFormat("%S ", method ? method : Py_None);
    if (line == NULL)
        return -1;
    PyObject *enc = PyUnicode_AsEncodedString(line, "latin-1", "replace");
    Py_DECREF(line);
    if (enc == NULL)
        return -1;
    Py_buffer view;
    if (PyObject_GetBuffer(sb, &view, PyBUF_WRITABLE) < 0) {
        Py_DECREF(enc);
        return -1;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(enc);
    if (n > SLOT_LINE_MAX)
        n = SLOT_LINE_MAX;
    int rc = 0;
    if (off < 0 || off + 18 + n > view.len) {
        PyErr_SetString(PyExc_ValueError, "scoreboard slot outside the scoreboard");
        rc = -1;
    } else {
        unsigned char *p = (unsigned char *)view.buf + off;
        unsigned long long start = (unsigned long long)t0;
        unsigned short len16 = (unsigned short)n;
        memcpy(p + 8, &start, 8); /* little-endian hosts: Linux on x86-64 and arm64 */
        memcpy(p + 16, &len16, 2);
        memcpy(p + 18, PyBytes_AS_STRING(enc), n);
        __atomic_store_n((unsigned long long *)p, seq, __ATOMIC_RELEASE);
    }
    PyBuffer_Release(&view);
    Py_DECREF(enc);
    return rc;
}

/* scoreboard_start(scoreboard, slot_offset, seq, t0, env) -> the new seq:
 * the twin of stackctl_worker.scoreboard_start (the lanes' path; prepare
 * does the same for the shared socket's). */
static PyObject *mark_started(PyObject *self, PyObject *args) {
    PyObject *sb, *env;
    Py_ssize_t off;
    unsigned long long seq;
    long long t0;
    if (!PyArg_ParseTuple(args, "OnKLO!", &sb, &off, &seq, &t0, &PyDict_Type, &env))
        return NULL;
    if (sb != Py_None && scoreboard_start(sb, off, ++seq, t0, env) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(seq);
}

/* prepare(fd, buffer_size, scoreboard, slot_offset, seq) -> (env, t0, seq),
 * or a str (why the connection is closed, for the log), or None (closed
 * without a word: a health probe). The twin of Loop.serve_conn up to the
 * call of the app, with Loop.started. */
static PyObject *prepare(PyObject *self, PyObject *args) {
    int fd;
    Py_ssize_t buffer_size, sb_off;
    unsigned long long seq;
    PyObject *sb;
    if (!PyArg_ParseTuple(args, "inOnK", &fd, &buffer_size, &sb, &sb_off, &seq))
        return NULL;
    long long t0 = monotonic_ns();
    Py_ssize_t cap = 65536, len = 0;
    char *buf = PyMem_Malloc(cap);
    if (buf == NULL)
        return PyErr_NoMemory();
    PyObject *ret = NULL;
    for (;;) {
        if (len >= 4) {
            Py_ssize_t size = ((unsigned char)buf[1]) | ((unsigned char)buf[2] << 8);
            if (len >= 4 + size || size > buffer_size)
                break;
        }
        if (cap - len < 65536) {
            char *p = PyMem_Realloc(buf, len + 65536);
            if (p == NULL) {
                ret = PyErr_NoMemory();
                goto out;
            }
            buf = p;
            cap = len + 65536;
        }
        Py_ssize_t r = read_fd(fd, buf + len, 65536);
        if (r == -2)
            goto out;
        if (r < 0) {
            ret = errno == EAGAIN ? PyUnicode_FromString("closed a connection: timed out reading the request")
                                  : PyUnicode_FromFormat("closed a connection: read: [Errno %d] %s", errno, strerror(errno));
            goto out;
        }
        if (r == 0) {
            ret = len == 0 ? Py_NewRef(Py_None)
                           : PyUnicode_FromFormat("closed a connection: truncated uwsgi packet (%zd bytes)", len);
            goto out;
        }
        len += r;
    }
    if (buf[0] != 0) {
        ret = PyUnicode_FromFormat("closed a connection: unsupported modifier1 %d", (unsigned char)buf[0]);
        goto out;
    }
    Py_ssize_t size = ((unsigned char)buf[1]) | ((unsigned char)buf[2] << 8);
    if (size > buffer_size) {
        ret = PyUnicode_FromFormat("closed a connection: vars block of %zd bytes exceeds buffer_size %zd", size, buffer_size);
        goto out;
    }
    PyObject *r = environ_core(buf, len, 4, 4 + size, 4 + size, len, fd, 0);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(g_bad_request)) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            ret = PyUnicode_FromFormat("closed a connection: malformed uwsgi packet: %S", value ? value : Py_None);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
        }
        goto out;
    }
    PyObject *env = PyTuple_GET_ITEM(r, 0);
    if (sb != Py_None)
        seq++;
    if (scoreboard_start(sb, sb_off, seq, t0, env) == 0)
        ret = Py_BuildValue("OLK", env, t0, seq);
    Py_DECREF(r);
out:
    PyMem_Free(buf);
    return ret;
}

/* accept(listener) -> fd, or None when no connection is waiting. The twin
 * of stackctl_worker.accept: blocking, close-on-exec, EINTR is "none yet";
 * other errors raise OSError as socket._accept does. */
static PyObject *accept_conn(PyObject *self, PyObject *listener) {
    int lfd = PyObject_AsFileDescriptor(listener);
    if (lfd < 0)
        return NULL;
    int fd;
    Py_BEGIN_ALLOW_THREADS fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    Py_END_ALLOW_THREADS if (fd >= 0) return PyLong_FromLong(fd);
    if (errno == EAGAIN || errno == EINTR) {
        if (errno == EINTR && PyErr_CheckSignals() < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Write all of the iovecs; a full socket buffer waits up to 60 s for room
 * (send_all's contract). */
static int write_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w;
        Py_BEGIN_ALLOW_THREADS w = writev(fd, iov, n);
        Py_END_ALLOW_THREADS if (w < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    return -1;
                continue;
            }
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                int pr;
                Py_BEGIN_ALLOW_THREADS pr = poll(&pfd, 1, 60000);
                Py_END_ALLOW_THREADS if (pr == 0) {
                    PyErr_SetString(PyExc_TimeoutError, "timed out writing the response");
                    return -1;
                }
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= w;
        }
    }
    return 0;
}


/* respond(app, env, resp) -> SENT, or what the app returned. Calls the app;
 * a response that is one bytes object in a list (the usual case) is sent
 * here, as run_app's fast path does, and SENT returned; anything else is
 * returned for run_app to carry on with. The app's exceptions propagate. */
static PyObject *respond(PyObject *self, PyObject *args) {
    PyObject *app, *env, *resp;
    if (!PyArg_ParseTuple(args, "OOO", &app, &env, &resp))
        return NULL;
    PyObject *sr = PyObject_GetAttr(resp, s_start_response);
    if (sr == NULL)
        return NULL;
    PyObject *result = PyObject_CallFunctionObjArgs(app, env, sr, NULL);
    Py_DECREF(sr);
    if (result == NULL || !PyList_CheckExact(result) || PyList_GET_SIZE(result) != 1 ||
        !PyBytes_CheckExact(PyList_GET_ITEM(result, 0)))
        return result;
    PyObject *sent = PyObject_GetAttr(resp, s_sent);
    PyObject *status = sent ? PyObject_GetAttr(resp, s_status) : NULL;
    int usual = status != NULL && sent == Py_False && status != Py_None;
    Py_XDECREF(sent);
    Py_XDECREF(status);
    if (PyErr_Occurred()) {
        Py_DECREF(result);
        return NULL;
    }
    if (!usual)
        return result;
    PyObject *body = PyList_GET_ITEM(result, 0);
    Py_ssize_t blen = PyBytes_GET_SIZE(body);
    PyObject *hd = head_for(resp, blen);
    if (hd == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    if (hd == Py_None) { /* the twin's to do */
        Py_DECREF(hd);
        return result;
    }
    PyObject *fdobj = PyObject_GetAttr(resp, s_fd);
    PyObject *code = fdobj ? PyObject_GetAttr(resp, s_code) : NULL;
    PyObject *ho = code ? PyObject_GetAttr(resp, s_head_only) : NULL;
    int ok = -1;
    if (ho != NULL) {
        int fd = PyLong_AsLong(fdobj);
        long c = PyLong_AsLong(code);
        int head_only = PyObject_IsTrue(ho);
        if (!PyErr_Occurred()) {
            struct iovec iov[2] = {{PyBytes_AS_STRING(hd), PyBytes_GET_SIZE(hd)}, {PyBytes_AS_STRING(body), blen}};
            int n = 1;
            if (!(head_only || c == 204 || c == 304 || c < 200)) {
                PyObject *nb = PyLong_FromSsize_t(blen);
                if (nb != NULL && PyObject_SetAttr(resp, s_body_bytes, nb) == 0)
                    n = 2;
                Py_XDECREF(nb);
            }
            if (!PyErr_Occurred())
                ok = write_all(fd, iov, n);
        }
    }
    Py_XDECREF(fdobj);
    Py_XDECREF(code);
    Py_XDECREF(ho);
    Py_DECREF(hd);
    Py_DECREF(result);
    return ok == 0 ? Py_NewRef(g_sent) : NULL;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, "configure(base, Input, EMPTY_INPUT, BadRequest, split_script_name, SENT)"},
    {"environ", build_environ, METH_VARARGS, "environ(data, start, end, body_start, body_end, fd, split) -> (env, consumed)"},
    {"head", head, METH_VARARGS, "head(resp, known_length) -> bytes, or None for the Python twin"},
    {"prepare", prepare, METH_VARARGS, "prepare(fd, buffer_size, scoreboard, slot_offset, seq) -> (env, t0, seq) | str | None"},
    {"scoreboard_start", mark_started, METH_VARARGS, "scoreboard_start(scoreboard, slot_offset, seq, t0, env) -> seq"},
    {"accept", accept_conn, METH_O, "accept(listener) -> fd, or None"},
    {"respond", respond, METH_VARARGS, "respond(app, env, resp) -> SENT, or the app's result"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_stackctl_speedups", NULL, -1, methods, NULL, NULL, NULL, NULL};

#define INTERN(v, s)                                    \
    do {                                                \
        if ((v = PyUnicode_InternFromString(s)) == NULL) \
            return NULL;                                \
    } while (0)

PyMODINIT_FUNC PyInit__stackctl_speedups(void) {
    if (g_zero == NULL && (g_zero = PyLong_FromLong(0)) == NULL)
        return NULL;
    INTERN(s_REQUEST_METHOD, "REQUEST_METHOD");
    INTERN(s_CONTENT_LENGTH, "CONTENT_LENGTH");
    INTERN(s_HTTPS, "HTTPS");
    INTERN(s_REQUEST_SCHEME, "REQUEST_SCHEME");
    INTERN(s_UWSGI_SCHEME, "UWSGI_SCHEME");
    INTERN(s_HTTP_CONTENT_TYPE, "HTTP_CONTENT_TYPE");
    INTERN(s_HTTP_CONTENT_LENGTH, "HTTP_CONTENT_LENGTH");
    INTERN(s_SCRIPT_NAME, "SCRIPT_NAME");
    INTERN(s_HTTP_COOKIE, "HTTP_COOKIE");
    INTERN(s_REQUEST_URI, "REQUEST_URI");
    INTERN(s_PATH_INFO, "PATH_INFO");
    INTERN(s_wsgi_input, "wsgi.input");
    INTERN(s_wsgi_url_scheme, "wsgi.url_scheme");
    INTERN(s_https, "https");
    INTERN(s_status, "status");
    INTERN(s_headers, "headers");
    INTERN(s_proto, "proto");
    INTERN(s_head_only, "head_only");
    INTERN(s_lane, "lane");
    INTERN(s_code, "code");
    INTERN(s_length, "length");
    INTERN(s_chunked, "chunked");
    INTERN(s_sent, "sent");
    INTERN(s_start_response, "start_response");
    INTERN(s_fd, "fd");
    INTERN(s_body_bytes, "body_bytes");
    return PyModule_Create(&module);
}
