/*
 * mring._mring: the CPython binding of libmring (the Python layer is
 * ring/python/mring/__init__.py, which documents the user-facing API).
 *
 * Memory safety is the point of this file. Records and reservations are
 * handed to Python as memoryviews of a small exporter object (Buf) that
 * points into the ring's mapping. The rules:
 *  - every operation that may invalidate the mapping (the next peek, a
 *    release, seek, reserve, commit, close) first "unpins" what it handed
 *    out: it releases the memoryviews it created and then requires that
 *    nothing else still holds an export of the Buf (a numpy array made
 *    with np.frombuffer, a slice of the view, ...). If something does, the
 *    operation raises BufferError and changes nothing: the record stays
 *    peeked and its memory stays valid until the export is dropped;
 *  - once unpinned, a Buf has no pointer any more: any new export of it
 *    raises ValueError, and the memoryviews handed out are released, so
 *    their use raises ValueError too;
 *  - close() while an export is alive closes the Python object at once
 *    but keeps the C handle (and so the mapping) until the last export is
 *    dropped.
 * So no Python code can reach memory that was released, unmapped or
 * handed back to the producer without getting an exception first.
 *
 * Waits release the GIL and run in slices of at most 100 ms, checking for
 * signals (KeyboardInterrupt) between them: the library never returns
 * -EINTR (mring.h, "Signals and EINTR"), so this is how a blocked read
 * gives way to Ctrl-C within 100 ms.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <mring.h>

PyMODINIT_FUNC PyInit__mring(void);

#define SLICE_MS 100

/* Exception classes registered by the Python layer (_register). */
static PyObject *err_map;  /* {code: class} */
static PyObject *err_base; /* mring.Error */

/* ------------------------------------------------------------------ */
/* Objects                                                             */
/* ------------------------------------------------------------------ */

enum held {
	HELD_NONE = 0,
	HELD_PEEK,    /* one mring_peek to release (held_n bytes) */
	HELD_BATCH,   /* mring_peek_many: held_n records to release */
	HELD_RESERVE, /* an uncommitted reservation of held_n bytes */
	HELD_PINNED,  /* nothing to release; exports still to check */
};

struct out {
	PyObject *buf;  /* BufObject, owned */
	PyObject *view; /* our memoryview of it, owned; NULL once dropped */
};

typedef struct RingObject {
	PyObject_HEAD struct mring *r;
	PyObject *path;
	int role;
	unsigned flags;
	uint32_t max_record;
	uint64_t capacity;
	int busy;   /* a call runs with the GIL released */
	int closed; /* close() was called */
	int held;   /* enum held */
	size_t held_n;
	uint64_t gen;    /* bumps whenever held changes */
	Py_ssize_t live; /* exports of the Bufs handed out */
	struct out *out; /* what was handed out since the last step */
	Py_ssize_t nout, out_cap;
	PyObject **pool; /* Bufs nobody else references, for reuse */
	Py_ssize_t npool;
	int open_called;
	uint64_t lost_bytes; /* stats as of the last loss report */
	uint64_t lost_records;
} RingObject;

typedef struct {
	PyObject_HEAD struct RingObject *ring;
	char *ptr; /* NULL once released */
	Py_ssize_t len;
	int readonly;
	Py_ssize_t exports;
} BufObject;

typedef struct {
	PyObject_HEAD RingObject *ring;
	PyObject *view;
	uint64_t gen;
} ResvObject;

static PyTypeObject RingType, BufType, ResvType;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Raise the exception class registered for `code`; returns it (new ref)
 * so callers can add attributes, or NULL. Always returns with an error
 * set. */
static PyObject *raise_code(int code, PyObject *filename)
{
	PyObject *cls = NULL, *key, *exc;

	if (code > 0)
		code = -code;
	key = PyLong_FromLong(code);
	if (!key)
		return NULL;
	if (err_map)
		cls = PyDict_GetItemWithError(err_map, key);
	Py_DECREF(key);
	if (!cls && PyErr_Occurred())
		return NULL;
	if (!cls)
		cls = err_base ? err_base : PyExc_OSError;
	exc = PyObject_CallFunction(cls, "isO", code, mring_strerror(code),
	                            filename ? filename : Py_None);
	if (!exc)
		return NULL;
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	return exc;
}

static PyObject *fail(RingObject *self, long code)
{
	PyObject *exc = raise_code((int)code, self ? self->path : NULL);
	Py_XDECREF(exc);
	return NULL;
}

/* MRING_ELAPPED: raise mring.Lapped with the loss since the last report. */
static PyObject *fail_lapped(RingObject *self)
{
	struct mring_stats st;
	uint64_t b = 0, n = 0;

	if (mring_stats(self->r, &st) == 0) {
		b = st.bytes_lost - self->lost_bytes;
		n = st.records_lost - self->lost_records;
		self->lost_bytes = st.bytes_lost;
		self->lost_records = st.records_lost;
	}
	PyObject *exc = raise_code(MRING_ELAPPED, self->path);
	if (!exc)
		return NULL;
	PyObject *et, *ev, *tb;
	PyErr_Fetch(&et, &ev, &tb);
	PyObject *vb = PyLong_FromUnsignedLongLong(b);
	PyObject *vn = PyLong_FromUnsignedLongLong(n);
	if (vb && vn) {
		PyObject_SetAttrString(exc, "bytes_lost", vb);
		PyObject_SetAttrString(exc, "records_lost", vn);
	}
	Py_XDECREF(vb);
	Py_XDECREF(vn);
	Py_DECREF(exc);
	if (PyErr_Occurred())
		PyErr_Clear();
	PyErr_Restore(et, ev, tb);
	return NULL;
}

static PyObject *fail_rc(RingObject *self, long code)
{
	if (code == MRING_ELAPPED)
		return fail_lapped(self);
	return fail(self, code);
}

/* ------------------------------------------------------------------ */
/* Buf: the exporter behind every memoryview handed out                */
/* ------------------------------------------------------------------ */

static void ring_really_close(RingObject *self);

static int buf_getbuffer(BufObject *self, Py_buffer *view, int flags)
{
	if (!self->ptr) {
		PyErr_SetString(PyExc_ValueError,
		                "mring record or reservation already released "
		                "(valid only until the next step; copy what "
		                "you keep)");
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->ptr, self->len,
	                      self->readonly, flags) < 0)
		return -1;
	self->exports++;
	self->ring->live++;
	return 0;
}

static void buf_releasebuffer(BufObject *self, Py_buffer *view)
{
	RingObject *ring = self->ring;

	(void)view;
	self->exports--;
	ring->live--;
	/* A close() deferred until the last export is gone. */
	if (ring->live == 0 && ring->closed && ring->r)
		ring_really_close(ring);
}

static PyBufferProcs buf_as_buffer = {
	.bf_getbuffer = (getbufferproc)buf_getbuffer,
	.bf_releasebuffer = (releasebufferproc)buf_releasebuffer,
};

static int buf_traverse(BufObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->ring);
	return 0;
}

static void buf_dealloc(BufObject *self)
{
	PyObject_GC_UnTrack(self);
	Py_CLEAR(self->ring);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject BufType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mring._mring.Buffer",
	.tp_basicsize = sizeof(BufObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Memory of one record or reservation, exported as a "
		  "memoryview (internal).",
	.tp_as_buffer = &buf_as_buffer,
	.tp_traverse = (traverseproc)buf_traverse,
	.tp_dealloc = (destructor)buf_dealloc,
};

#define POOL_MAX 4096 /* the largest batch */

/* Hand out a memoryview of ptr[0..len): remembered, so the next step
 * can release it. New reference, or NULL. */
static PyObject *hand_out(RingObject *self, const void *ptr, size_t len,
                          int readonly)
{
	BufObject *b;

	if (self->nout == self->out_cap) {
		Py_ssize_t cap = self->out_cap ? 2 * self->out_cap : 16;
		struct out *o = PyMem_Realloc(self->out, sizeof(*o) * cap);
		if (!o)
			return PyErr_NoMemory();
		self->out = o;
		self->out_cap = cap;
	}
	if (self->npool) {
		b = (BufObject *)self->pool[--self->npool];
	} else {
		b = PyObject_GC_New(BufObject, &BufType);
		if (!b)
			return NULL;
		b->exports = 0;
		PyObject_GC_Track(b);
	}
	/* Its exports count in this ring's live, and a deferred close()
	 * waits for them: the ring must outlive it. */
	Py_INCREF(self);
	b->ring = self;
	b->ptr = (char *)ptr;
	b->len = (Py_ssize_t)len;
	b->readonly = readonly;
	PyObject *v = PyMemoryView_FromObject((PyObject *)b);
	if (!v) {
		b->ptr = NULL;
		Py_DECREF(b);
		return NULL;
	}
	self->out[self->nout].buf = (PyObject *)b;
	Py_INCREF(v);
	self->out[self->nout].view = v;
	self->nout++;
	return v;
}

static const char still_used[] =
	"the previous mring record is still in use: a numpy array, a slice "
	"or another buffer made from it is alive. Drop it (del) or copy it "
	"(bytes(view), np.array(...), ring.read()) before the next step; the "
	"ring stays where it is until then";

/*
 * Release the memoryviews handed out and check that nothing else holds
 * the memory; then forget the pointers. 0, or -1 with BufferError and
 * nothing changed (the memory stays valid).
 */
static PyObject *str_release; /* "release", interned */

static int unpin(RingObject *self)
{
	Py_ssize_t i;

	for (i = 0; i < self->nout; i++) {
		PyObject *v = self->out[i].view;
		if (!v)
			continue;
		/* Nobody else has our view: dropping it releases it. */
		if (Py_REFCNT(v) > 1) {
			PyObject *rv =
				PyObject_CallMethodNoArgs(v, str_release);
			if (!rv) {
				if (PyErr_ExceptionMatches(PyExc_BufferError)) {
					PyErr_Clear();
					PyErr_SetString(PyExc_BufferError,
					                still_used);
				}
				return -1;
			}
			Py_DECREF(rv);
		}
		self->out[i].view = NULL;
		Py_DECREF(v);
	}
	/* A numpy array or a slice made from a view holds its own export. */
	if (self->live > 0) {
		PyErr_SetString(PyExc_BufferError, still_used);
		return -1;
	}
	for (i = 0; i < self->nout; i++) {
		BufObject *b = (BufObject *)self->out[i].buf;
		b->ptr = NULL;
		self->out[i].buf = NULL;
		/* Pooled Bufs hold no reference to the ring (no cycle). */
		if (Py_REFCNT(b) == 1 && self->npool < POOL_MAX && self->pool) {
			Py_CLEAR(b->ring);
			self->pool[self->npool++] = (PyObject *)b;
		} else {
			Py_DECREF(b);
		}
	}
	self->nout = 0;
	if (self->held == HELD_PINNED)
		self->held = HELD_NONE;
	return 0;
}

/* Unpin, then give back to the library what is held. 0 or -1. */
static int finish(RingObject *self)
{
	int rc = 0, held;

	if (unpin(self) < 0)
		return -1;
	held = self->held;
	self->held = HELD_NONE;
	self->gen++;
	if (held == HELD_PEEK)
		rc = mring_release(self->r, self->held_n);
	else if (held == HELD_BATCH)
		rc = mring_release_many(self->r, self->held_n);
	else if (held == HELD_RESERVE)
		rc = mring_commit(self->r, 0);
	if (rc < 0) {
		fail_rc(self, rc);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ring                                                                */
/* ------------------------------------------------------------------ */

/* Checks every method does first. 0 or -1 with an exception. */
static int usable(RingObject *self)
{
	if (!self->r || self->closed) {
		PyErr_SetString(PyExc_ValueError, "mring: ring is closed");
		return -1;
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
		                "mring: this ring is in use by another thread "
		                "(a handle serves one thread at a time; open "
		                "one per thread)");
		return -1;
	}
	return 0;
}

static int timeout_ms(PyObject *t, int *ms)
{
	if (!t || t == Py_None) {
		*ms = -1;
		return 0;
	}
	double s = PyFloat_AsDouble(t);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (s < 0) {
		*ms = -1;
		return 0;
	}
	*ms = s * 1000.0 > INT32_MAX ? INT32_MAX : (int)(s * 1000.0 + 0.5);
	if (*ms == 0 && s > 0)
		*ms = 1;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What to wait for. */
struct op {
	int kind; /* OP_PEEK, OP_MANY, OP_RESERVE, OP_PREFAULT */
	const void *ptr;
	void *wptr;
	struct mring_msg *msgs;
	size_t n;
};
enum { OP_PEEK, OP_MANY, OP_RESERVE, OP_PREFAULT };

static ssize_t op_call(RingObject *self, struct op *op, int ms)
{
	switch (op->kind) {
	case OP_PEEK:
		return mring_peek(self->r, &op->ptr, ms);
	case OP_MANY:
		return mring_peek_many(self->r, op->msgs, op->n, ms);
	case OP_PREFAULT:
		return mring_prefault(self->r, op->n, ms);
	default:
		return mring_reserve(self->r, op->n, &op->wptr, ms);
	}
}

#define RC_PYERR (-100000) /* a Python exception is set */

/* op_call with the GIL released; `busy` keeps other threads off the
 * handle meanwhile. */
static ssize_t op_call_released(RingObject *self, struct op *op, int ms)
{
	ssize_t rc;

	self->busy = 1;
	Py_BEGIN_ALLOW_THREADS rc = op_call(self, op, ms);
	Py_END_ALLOW_THREADS self->busy = 0;
	return rc;
}

/*
 * Run op with a timeout (-1: forever), GIL released, in slices of
 * SLICE_MS with signal checks in between. The consumer's first try is
 * made with the GIL held (timeout 0: no system call when data is there).
 * The producer's calls always release it: without a maintenance thread
 * reserve and prefault pre-fault pages themselves, up to a window (a
 * 1 GiB prefault: about 0.3 s) that other Python threads would wait for.
 */
static ssize_t wait_op(RingObject *self, struct op *op, int ms)
{
	ssize_t rc;

	if (op->kind == OP_PEEK || op->kind == OP_MANY) {
		rc = op_call(self, op, 0);
		if (rc != -EAGAIN || ms == 0)
			return rc;
	} else if (ms == 0) {
		return op_call_released(self, op, 0);
	}
	int64_t deadline = ms < 0 ? 0 : now_ms() + ms;
	for (;;) {
		int slice = SLICE_MS;
		if (ms >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			if (left < slice)
				slice = (int)left;
		}
		rc = op_call_released(self, op, slice);
		if (rc != -ETIMEDOUT)
			return rc;
		if (PyErr_CheckSignals() < 0)
			return RC_PYERR;
	}
}

static void ring_really_close(RingObject *self)
{
	struct mring *r = self->r;

	if (!r)
		return;
	self->r = NULL;
	/* Errors are of no use here: the handle goes either way. */
	if (self->held == HELD_PEEK)
		(void)mring_release(r, self->held_n);
	else if (self->held == HELD_BATCH)
		(void)mring_release_many(r, self->held_n);
	self->held = HELD_NONE;
	Py_BEGIN_ALLOW_THREADS mring_close(r);
	Py_END_ALLOW_THREADS
}

static int ring_init(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path",  "role",   "name", "start",
	                         "flags", "window", NULL};
	PyObject *path = NULL;
	const char *name = NULL;
	int role, start = MRING_START_OLDEST;
	unsigned flags = 0, window = 0;
	struct mring_config cfg;
	struct mring_info info;
	struct mring_stats st;
	struct mring *r = NULL;
	int rc;

	if (self->open_called) {
		PyErr_SetString(PyExc_RuntimeError, "mring: Ring already open");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&i|ziII", kwlist,
	                                 PyUnicode_FSConverter, &path, &role,
	                                 &name, &start, &flags, &window))
		return -1;
	self->open_called = 1;
	self->pool = PyMem_Malloc(sizeof(*self->pool) * POOL_MAX);
	if (!self->pool) {
		Py_DECREF(path);
		PyErr_NoMemory();
		return -1;
	}
	mring_config_init(&cfg);
	cfg.consumer_name = name;
	cfg.start = start;
	cfg.flags = flags;
	cfg.window = window;
	const char *p = PyBytes_AS_STRING(path);
	Py_BEGIN_ALLOW_THREADS rc = mring_open(p, role, &cfg, &r);
	if (rc == 0)
		rc = mring_inspect(p, &info, NULL, 0);
	Py_END_ALLOW_THREADS self->path = PyUnicode_DecodeFSDefault(p);
	Py_DECREF(path);
	if (!self->path) {
		mring_close(r);
		return -1;
	}
	if (rc < 0) {
		mring_close(r);
		fail(self, rc);
		return -1;
	}
	self->r = r;
	self->role = role;
	self->flags = info.flags;
	self->max_record = info.max_record;
	self->capacity = info.capacity;
	if (mring_stats(r, &st) == 0) {
		self->lost_bytes = st.bytes_lost;
		self->lost_records = st.records_lost;
	}
	return 0;
}

static int ring_traverse(RingObject *self, visitproc visit, void *arg)
{
	for (Py_ssize_t i = 0; i < self->nout; i++) {
		Py_VISIT(self->out[i].buf);
		Py_VISIT(self->out[i].view);
	}
	for (Py_ssize_t i = 0; i < self->npool; i++)
		Py_VISIT(self->pool[i]);
	return 0;
}

static int ring_clear(RingObject *self)
{
	/* Detach everything first: dropping a Buf may drop the last
	 * reference to this ring, which is then freed under our feet. */
	struct out *out = self->out;
	PyObject **pool = self->pool;
	Py_ssize_t nout = self->nout, npool = self->npool;

	self->out = NULL;
	self->nout = self->out_cap = 0;
	self->pool = NULL;
	self->npool = 0;
	/* Views first: dropping one may release its Buf's export. */
	for (Py_ssize_t i = 0; i < nout; i++)
		Py_XDECREF(out[i].view);
	for (Py_ssize_t i = 0; i < npool; i++)
		Py_DECREF(pool[i]);
	for (Py_ssize_t i = 0; i < nout; i++)
		Py_XDECREF(out[i].buf);
	PyMem_Free(out);
	PyMem_Free(pool);
	return 0;
}

static void ring_dealloc(RingObject *self)
{
	PyObject_GC_UnTrack(self);
	/* No Buf is alive (each holds a reference): nothing is exported. */
	ring_really_close(self);
	ring_clear(self);
	Py_CLEAR(self->path);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *ring_close(RingObject *self, PyObject *unused)
{
	(void)unused;
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError,
		                "mring: close() while another thread waits on "
		                "this ring; interrupt() it first");
		return NULL;
	}
	if (self->closed || !self->r) {
		self->closed = 1;
		Py_RETURN_NONE;
	}
	self->closed = 1;
	/* Release what we handed out; if a numpy array or a slice still
	 * holds the memory, the C handle stays until it is dropped. */
	if (unpin(self) < 0) {
		PyErr_Clear();
		if (self->live == 0)
			ring_really_close(self);
		Py_RETURN_NONE;
	}
	if (self->held == HELD_RESERVE)
		self->held = HELD_NONE; /* dropped, never committed */
	ring_really_close(self);
	Py_RETURN_NONE;
}

static PyObject *ring_enter(RingObject *self, PyObject *unused)
{
	(void)unused;
	if (usable(self) < 0)
		return NULL;
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *ring_exit(RingObject *self, PyObject *args)
{
	(void)args;
	return ring_close(self, NULL);
}

/* ---- consumer ---- */

static PyObject *peek_common(RingObject *self, int ms)
{
	struct op op = {.kind = OP_PEEK};
	ssize_t rc;

	if (usable(self) < 0 || finish(self) < 0)
		return NULL;
	rc = wait_op(self, &op, ms);
	if (rc == RC_PYERR)
		return NULL;
	if (rc == 0)
		Py_RETURN_NONE;
	if (rc < 0)
		return fail_rc(self, rc);
	self->held = HELD_PEEK;
	self->held_n = (size_t)rc;
	self->gen++;
	return hand_out(self, op.ptr, (size_t)rc, 1);
}

static PyObject *ring_peek(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"timeout", NULL};
	PyObject *t = Py_None;
	int ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &t) ||
	    timeout_ms(t, &ms) < 0)
		return NULL;
	return peek_common(self, ms);
}

static PyObject *ring_iternext(RingObject *self)
{
	PyObject *v = peek_common(self, -1);
	if (v == Py_None) {
		Py_DECREF(v);
		return NULL; /* StopIteration */
	}
	return v;
}

static PyObject *ring_iter(RingObject *self)
{
	if (usable(self) < 0)
		return NULL;
	if (self->role != MRING_CONSUMER) {
		PyErr_SetString(PyExc_TypeError,
		                "mring: only a consumer can be iterated");
		return NULL;
	}
	Py_INCREF(self);
	return (PyObject *)self;
}

static PyObject *ring_release(RingObject *self, PyObject *unused)
{
	(void)unused;
	if (usable(self) < 0 || finish(self) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *ring_read(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"size", "timeout", NULL};
	Py_ssize_t size = -1;
	PyObject *t = Py_None, *out;
	struct op op = {.kind = OP_PEEK};
	ssize_t rc;
	int ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|nO", kwlist, &size, &t) ||
	    timeout_ms(t, &ms) < 0)
		return NULL;
	if (usable(self) < 0 || finish(self) < 0)
		return NULL;
	if (size == 0)
		return PyBytes_FromStringAndSize(NULL, 0);
	rc = wait_op(self, &op, ms);
	if (rc == RC_PYERR)
		return NULL;
	if (rc == 0)
		return PyBytes_FromStringAndSize(NULL, 0);
	if (rc < 0)
		return fail_rc(self, rc);
	size_t n = (size_t)rc;
	if (!(self->flags & MRING_F_RECORDS) && size > 0 && (size_t)size < n)
		n = (size_t)size;
	/* Copy, then release: data overwritten meanwhile is never returned
	 * (overwrite mode reports it as a lap instead). */
	out = PyBytes_FromStringAndSize(op.ptr, (Py_ssize_t)n);
	if (!out) {
		(void)mring_release(self->r, 0);
		return NULL;
	}
	int rel = mring_release(self->r, n);
	if (rel < 0) {
		Py_DECREF(out);
		return fail_rc(self, rel);
	}
	return out;
}

static PyObject *ring_peek_many(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"max", "timeout", NULL};
	Py_ssize_t max;
	PyObject *t = Py_None, *list;
	struct mring_msg stack[64], *msgs = stack;
	struct op op = {.kind = OP_MANY};
	ssize_t rc;
	int ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "n|O", kwlist, &max, &t) ||
	    timeout_ms(t, &ms) < 0)
		return NULL;
	if (max < 1) {
		PyErr_SetString(PyExc_ValueError,
		                "peek_many: max must be >= 1");
		return NULL;
	}
	if (max > 4096)
		max = 4096;
	if (usable(self) < 0 || finish(self) < 0)
		return NULL;
	if (max > 64) {
		msgs = PyMem_Malloc(sizeof(*msgs) * (size_t)max);
		if (!msgs)
			return PyErr_NoMemory();
	}
	op.msgs = msgs;
	op.n = (size_t)max;
	rc = wait_op(self, &op, ms);
	if (rc <= 0) {
		if (msgs != stack)
			PyMem_Free(msgs);
		if (rc == RC_PYERR)
			return NULL;
		if (rc == 0)
			return PyList_New(0);
		return fail_rc(self, rc);
	}
	self->held = HELD_BATCH;
	self->held_n = (size_t)rc;
	self->gen++;
	list = PyList_New(rc);
	for (ssize_t i = 0; list && i < rc; i++) {
		PyObject *v = hand_out(self, msgs[i].ptr, msgs[i].len, 1);
		if (!v)
			Py_CLEAR(list);
		else
			PyList_SET_ITEM(list, i, v);
	}
	if (msgs != stack)
		PyMem_Free(msgs);
	return list;
}

static PyObject *ring_seek(RingObject *self, PyObject *args)
{
	int whence, rc;
	unsigned long long value = 0;

	if (!PyArg_ParseTuple(args, "i|K", &whence, &value))
		return NULL;
	if (usable(self) < 0 || unpin(self) < 0)
		return NULL;
	/* The library drops a peeked record or batch (not released). */
	self->held = HELD_NONE;
	self->gen++;
	Py_BEGIN_ALLOW_THREADS rc = mring_seek(self->r, whence, value);
	Py_END_ALLOW_THREADS if (rc < 0) return fail_rc(self, rc);
	return PyBool_FromLong(rc == 0);
}

static PyObject *ring_tell(RingObject *self, PyObject *unused)
{
	struct mring_where w;
	int rc;

	(void)unused;
	if (usable(self) < 0)
		return NULL;
	rc = mring_tell(self->r, &w);
	if (rc < 0)
		return fail(self, rc);
	if (w.seq == MRING_SEQ_NONE)
		return Py_BuildValue("KOK", (unsigned long long)w.pos, Py_None,
		                     (unsigned long long)w.ts);
	return Py_BuildValue("KKK", (unsigned long long)w.pos,
	                     (unsigned long long)w.seq,
	                     (unsigned long long)w.ts);
}

static PyObject *ring_skip(RingObject *self, PyObject *unused)
{
	uint64_t bytes = 0, recs = 0;
	struct mring_stats st;
	int rc;

	(void)unused;
	if (usable(self) < 0 || unpin(self) < 0)
		return NULL;
	self->held = HELD_NONE;
	self->gen++;
	Py_BEGIN_ALLOW_THREADS rc = mring_skip(self->r, &bytes, &recs);
	Py_END_ALLOW_THREADS if (rc < 0) return fail_rc(self, rc);
	if (mring_stats(self->r, &st) == 0) {
		self->lost_bytes = st.bytes_lost;
		self->lost_records = st.records_lost;
	}
	if (recs == UINT64_MAX)
		return Py_BuildValue("KO", (unsigned long long)bytes, Py_None);
	return Py_BuildValue("KK", (unsigned long long)bytes,
	                     (unsigned long long)recs);
}

static PyObject *ring_fileno(RingObject *self, PyObject *unused)
{
	(void)unused;
	if (usable(self) < 0)
		return NULL;
	int fd = mring_fd(self->r);
	if (fd < 0)
		return fail(self, fd);
	return PyLong_FromLong(fd);
}

static PyObject *ring_interrupt(RingObject *self, PyObject *unused)
{
	(void)unused;
	/* Allowed while another thread waits on the handle: that is its
	 * purpose (mring.h: safe from any thread). */
	if (!self->r || self->closed) {
		PyErr_SetString(PyExc_ValueError, "mring: ring is closed");
		return NULL;
	}
	int rc = mring_interrupt(self->r);
	if (rc < 0)
		return fail(self, rc);
	Py_RETURN_NONE;
}

/* ---- producer ---- */

static PyObject *ring_reserve(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"size", "timeout", NULL};
	Py_ssize_t size;
	PyObject *t = Py_None;
	struct op op = {.kind = OP_RESERVE};
	ssize_t rc;
	int ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "n|O", kwlist, &size, &t) ||
	    timeout_ms(t, &ms) < 0)
		return NULL;
	if (size <= 0 || (size_t)size > self->max_record) {
		PyErr_Format(PyExc_ValueError,
		             "reserve: size must be 1..%u (the ring's "
		             "max_record), not %zd",
		             self->max_record, size);
		return NULL;
	}
	if (usable(self) < 0 || finish(self) < 0)
		return NULL;
	op.n = (size_t)size;
	rc = wait_op(self, &op, ms);
	if (rc == RC_PYERR)
		return NULL;
	if (rc < 0)
		return fail_rc(self, rc);
	self->held = HELD_RESERVE;
	self->held_n = (size_t)size;
	self->gen++;
	PyObject *v = hand_out(self, op.wptr, (size_t)size, 0);
	if (!v)
		return NULL;
	ResvObject *res = PyObject_New(ResvObject, &ResvType);
	if (!res) {
		Py_DECREF(v);
		return NULL;
	}
	Py_INCREF(self);
	res->ring = self;
	res->view = v;
	res->gen = self->gen;
	return (PyObject *)res;
}

static int do_commit(RingObject *self, Py_ssize_t len, PyObject *ts)
{
	int rc;

	if (self->held != HELD_RESERVE) {
		PyErr_SetString(PyExc_ValueError,
		                "commit: no reservation (call reserve first)");
		return -1;
	}
	if (len < 0)
		len = (Py_ssize_t)self->held_n;
	if ((size_t)len > self->held_n) {
		PyErr_Format(PyExc_ValueError,
		             "commit: %zd bytes, more than the %zu reserved",
		             len, self->held_n);
		return -1;
	}
	unsigned long long t = 0;
	if (ts && ts != Py_None) {
		t = PyLong_AsUnsignedLongLong(ts);
		if (t == (unsigned long long)-1 && PyErr_Occurred())
			return -1;
	}
	/* The memory becomes the consumers' now: nobody may keep writing. */
	if (unpin(self) < 0)
		return -1;
	self->held = HELD_NONE;
	self->gen++;
	if (ts && ts != Py_None)
		rc = mring_commit_ts(self->r, (size_t)len, t);
	else
		rc = mring_commit(self->r, (size_t)len);
	if (rc < 0) {
		fail(self, rc);
		return -1;
	}
	return 0;
}

static PyObject *ring_commit(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"size", "ts", NULL};
	Py_ssize_t len = -1;
	PyObject *ts = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|nO", kwlist, &len, &ts))
		return NULL;
	if (usable(self) < 0 || do_commit(self, len, ts) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *ring_write(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"data", "timeout", "ts", NULL};
	Py_buffer in;
	PyObject *t = Py_None, *ts = Py_None;
	int ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|OO", kwlist, &in, &t,
	                                 &ts))
		return NULL;
	if (timeout_ms(t, &ms) < 0 || usable(self) < 0 || finish(self) < 0)
		goto err;
	int records = (self->flags & MRING_F_RECORDS) != 0;
	if (records && (in.len == 0 || (size_t)in.len > self->max_record)) {
		PyErr_Format(PyExc_ValueError,
		             "write: a record is 1..%u bytes (max_record), "
		             "not %zd",
		             self->max_record, in.len);
		goto err;
	}
	unsigned long long stamp = 0;
	if (ts != Py_None) {
		stamp = PyLong_AsUnsignedLongLong(ts);
		if (stamp == (unsigned long long)-1 && PyErr_Occurred())
			goto err;
	}
	Py_ssize_t done = 0;
	while (done < in.len || (records && done == 0)) {
		size_t n = (size_t)(in.len - done);
		if (n > self->max_record)
			n = self->max_record;
		struct op op = {.kind = OP_RESERVE, .n = n};
		ssize_t rc = wait_op(self, &op, ms);
		if (rc == RC_PYERR)
			goto err;
		if (rc < 0) {
			fail_rc(self, rc);
			goto err;
		}
		memcpy(op.wptr, (const char *)in.buf + done, n);
		rc = ts != Py_None ? mring_commit_ts(self->r, n, stamp)
		                   : mring_commit(self->r, n);
		if (rc < 0) {
			fail_rc(self, rc);
			goto err;
		}
		done += (Py_ssize_t)n;
	}
	PyBuffer_Release(&in);
	return PyLong_FromSsize_t(done);
err:
	PyBuffer_Release(&in);
	return NULL;
}

static PyObject *ring_sync(RingObject *self, PyObject *unused)
{
	int rc;

	(void)unused;
	if (usable(self) < 0)
		return NULL;
	self->busy = 1;
	Py_BEGIN_ALLOW_THREADS rc = mring_sync(self->r);
	Py_END_ALLOW_THREADS self->busy = 0;
	if (rc < 0)
		return fail(self, rc);
	Py_RETURN_NONE;
}

static PyObject *ring_prefault(RingObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"size", "timeout", NULL};
	PyObject *sz = Py_None, *t = Py_None;
	struct op op = {.kind = OP_PREFAULT};
	size_t size;
	ssize_t rc;
	int ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO", kwlist, &sz, &t) ||
	    timeout_ms(t, &ms) < 0)
		return NULL;
	if (sz == Py_None) {
		size = (size_t)self->capacity;
	} else {
		size = PyLong_AsSize_t(sz);
		if (size == (size_t)-1 && PyErr_Occurred()) {
			PyErr_Clear();
			PyErr_SetString(PyExc_ValueError,
			                "prefault: size must be a byte count "
			                ">= 0, or None for the whole ring");
			return NULL;
		}
	}
	if (usable(self) < 0)
		return NULL;
	op.n = size;
	rc = wait_op(self, &op, ms);
	if (rc == RC_PYERR)
		return NULL;
	if (rc < 0)
		return fail_rc(self, rc);
	return PyLong_FromSsize_t(rc);
}

static int put_u64(PyObject *d, const char *k, uint64_t v)
{
	PyObject *o = PyLong_FromUnsignedLongLong(v);
	int rc = o ? PyDict_SetItemString(d, k, o) : -1;
	Py_XDECREF(o);
	return rc;
}

static int put_int(PyObject *d, const char *k, long v)
{
	PyObject *o = PyLong_FromLong(v);
	int rc = o ? PyDict_SetItemString(d, k, o) : -1;
	Py_XDECREF(o);
	return rc;
}

static PyObject *ring_stats(RingObject *self, PyObject *unused)
{
	struct mring_stats st;
	int rc, bad = 0;

	(void)unused;
	if (usable(self) < 0)
		return NULL;
	rc = mring_stats(self->r, &st);
	if (rc < 0)
		return fail(self, rc);
	PyObject *d = PyDict_New();
	if (!d)
		return NULL;
#define PUT(f) bad |= put_u64(d, #f, st.f);
	PUT(bytes_produced)
	PUT(records_produced)
	PUT(bytes_consumed)
	PUT(records_consumed)
	PUT(bytes_lost)
	PUT(records_lost)
	PUT(lapped)
	PUT(producer_waits)
	PUT(consumer_waits)
	PUT(windows_mapped)
	PUT(lag)
	PUT(head)
	PUT(tail)
	PUT(position)
	PUT(capacity)
	PUT(minor_faults)
	PUT(major_faults)
	PUT(maint_wait_ns)
	PUT(prefault_ahead)
	PUT(reclaim_ops)
	PUT(reclaimed_bytes)
	PUT(writeback_ops)
	PUT(cache_drop_ops)
	PUT(cache_bytes)
	PUT(recovery_scanned)
	PUT(seeks)
	PUT(seek_scanned)
	PUT(batches)
	PUT(skips)
	PUT(prezeroed_bytes)
#undef PUT
	bad |= put_int(d, "maint", st.maint);
	bad |= put_int(d, "reclaim", st.reclaim);
	bad |= put_int(d, "numa_node", st.numa_node);
	if (bad) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

static PyObject *ring_get_closed(RingObject *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->closed || !self->r);
}

static PyObject *ring_get_role(RingObject *self, void *unused)
{
	(void)unused;
	return PyUnicode_FromString(self->role == MRING_PRODUCER ? "producer"
	                                                         : "consumer");
}

static PyObject *ring_get_flags(RingObject *self, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLong(self->flags);
}

static PyObject *ring_get_max_record(RingObject *self, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLong(self->max_record);
}

static PyObject *ring_get_capacity(RingObject *self, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(self->capacity);
}

static PyObject *ring_get_path(RingObject *self, void *unused)
{
	(void)unused;
	if (!self->path)
		Py_RETURN_NONE;
	Py_INCREF(self->path);
	return self->path;
}

static PyGetSetDef ring_getset[] = {
	{"closed", (getter)ring_get_closed, NULL, "True once closed.", NULL},
	{"role", (getter)ring_get_role, NULL, "'producer' or 'consumer'.",
         NULL},
	{"flags", (getter)ring_get_flags, NULL,
         "The ring's stored MRING_F_* flags (FLAG_RECORDS, ...).", NULL},
	{"max_record", (getter)ring_get_max_record, NULL,
         "Largest record or reservation, bytes.", NULL},
	{"capacity", (getter)ring_get_capacity, NULL, "Data bytes of the ring.",
         NULL},
	{"path", (getter)ring_get_path, NULL, "The ring file's path.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef ring_methods[] = {
	{"close", (PyCFunction)ring_close, METH_NOARGS,
         "close()\n--\n\nRelease what is held and close the handle."},
	{"__enter__", (PyCFunction)ring_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)ring_exit, METH_VARARGS, NULL},
	{"peek", (PyCFunction)(void (*)(void))ring_peek,
         METH_VARARGS | METH_KEYWORDS,
         "peek(timeout=None)\n--\n\nRelease the previous record and return the "
         "next as a read-only memoryview (None at end of stream)."},
	{"release", (PyCFunction)ring_release, METH_NOARGS,
         "release()\n--\n\nRelease the record(s) handed out, now."},
	{"read", (PyCFunction)(void (*)(void))ring_read,
         METH_VARARGS | METH_KEYWORDS,
         "read(size=-1, timeout=None)\n--\n\nCopy out the next record (bytes), "
         "b'' at end of stream."},
	{"peek_many", (PyCFunction)(void (*)(void))ring_peek_many,
         METH_VARARGS | METH_KEYWORDS,
         "peek_many(max, timeout=None)\n--\n\nUp to max consecutive records "
         "as read-only memoryviews ([] at end of stream)."},
	{"_seek", (PyCFunction)ring_seek, METH_VARARGS, NULL},
	{"_tell", (PyCFunction)ring_tell, METH_NOARGS, NULL},
	{"_skip", (PyCFunction)ring_skip, METH_NOARGS, NULL},
	{"fileno", (PyCFunction)ring_fileno, METH_NOARGS,
         "fileno()\n--\n\nA descriptor readable when there is data (consumer)."},
	{"interrupt", (PyCFunction)ring_interrupt, METH_NOARGS,
         "interrupt()\n--\n\nMake a wait on this ring (in another thread) "
         "raise mring.Cancelled."},
	{"reserve", (PyCFunction)(void (*)(void))ring_reserve,
         METH_VARARGS | METH_KEYWORDS,
         "reserve(size, timeout=None)\n--\n\nA Reservation of size writable "
         "bytes; use it with 'with'."},
	{"commit", (PyCFunction)(void (*)(void))ring_commit,
         METH_VARARGS | METH_KEYWORDS,
         "commit(size=-1, ts=None)\n--\n\nPublish the first size bytes of the "
         "reservation (all by default)."},
	{"write", (PyCFunction)(void (*)(void))ring_write,
         METH_VARARGS | METH_KEYWORDS,
         "write(data, timeout=None, ts=None)\n--\n\nCopy data in as one record "
         "(records) or as bytes; returns len(data)."},
	{"prefault", (PyCFunction)(void (*)(void))ring_prefault,
         METH_VARARGS | METH_KEYWORDS,
         "prefault(size=None, timeout=None)\n--\n\nCreate the pages of the "
         "next size bytes (None: the whole ring, as far as it is kept "
         "ready) before writing them; returns the bytes ready (producer)."},
	{"sync", (PyCFunction)ring_sync, METH_NOARGS,
         "sync()\n--\n\nMake everything committed (and consumer positions) "
         "durable."},
	{"stats", (PyCFunction)ring_stats, METH_NOARGS,
         "stats()\n--\n\nThis handle's counters (struct mring_stats) as a "
         "dict."},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject RingType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mring._mring.Ring",
	.tp_basicsize = sizeof(RingObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |
                    Py_TPFLAGS_HAVE_GC,
	.tp_doc = "An open ring (use mring.open()).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)ring_init,
	.tp_dealloc = (destructor)ring_dealloc,
	.tp_traverse = (traverseproc)ring_traverse,
	.tp_clear = (inquiry)ring_clear,
	.tp_iter = (getiterfunc)ring_iter,
	.tp_iternext = (iternextfunc)ring_iternext,
	.tp_methods = ring_methods,
	.tp_getset = ring_getset,
};

/* ------------------------------------------------------------------ */
/* Reservation: `with ring.reserve(n) as buf:`                         */
/* ------------------------------------------------------------------ */

static void resv_dealloc(ResvObject *self)
{
	Py_CLEAR(self->view);
	Py_CLEAR(self->ring);
	PyObject_Free(self);
}

static PyObject *resv_enter(ResvObject *self, PyObject *unused)
{
	(void)unused;
	if (self->gen != self->ring->gen) {
		PyErr_SetString(PyExc_ValueError,
		                "mring: this reservation is over (committed or "
		                "replaced)");
		return NULL;
	}
	Py_INCREF(self->view);
	return self->view;
}

static PyObject *resv_exit(ResvObject *self, PyObject *args)
{
	PyObject *et = Py_None, *ev = Py_None, *tb = Py_None;
	RingObject *ring = self->ring;

	if (!PyArg_ParseTuple(args, "|OOO", &et, &ev, &tb))
		return NULL;
	Py_CLEAR(self->view);
	/* Committed (or replaced) inside the block: nothing left to do. */
	if (self->gen != ring->gen || ring->held != HELD_RESERVE || !ring->r ||
	    ring->closed)
		Py_RETURN_FALSE;
	if (et != Py_None) {
		/* The block failed: publish nothing. */
		if (unpin(ring) < 0) {
			PyErr_Clear();
			ring->held = HELD_PINNED;
		} else {
			ring->held = HELD_NONE;
		}
		ring->gen++;
		(void)mring_commit(ring->r, 0);
		Py_RETURN_FALSE;
	}
	if (usable(ring) < 0)
		return NULL;
	if (do_commit(ring, -1, NULL) < 0) {
		if (PyErr_ExceptionMatches(PyExc_BufferError)) {
			/* Still exported: drop it and refuse the next step
			 * until the export is gone. */
			ring->held = HELD_PINNED;
			ring->gen++;
			(void)mring_commit(ring->r, 0);
			PyErr_SetString(
				PyExc_BufferError,
				"the reservation is still in use after its with "
				"block (a numpy array or slice of it is alive); "
				"nothing was committed. Drop it (del) before "
				"the next write");
		}
		return NULL;
	}
	Py_RETURN_FALSE;
}

static PyMethodDef resv_methods[] = {
	{"__enter__", (PyCFunction)resv_enter, METH_NOARGS, NULL},
	{"__exit__", (PyCFunction)resv_exit, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject ResvType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mring.Reservation",
	.tp_basicsize = sizeof(ResvObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A reservation from Ring.reserve(): 'with' gives a writable "
		  "memoryview, committed when the block ends without error "
		  "(dropped if it raises).",
	.tp_dealloc = (destructor)resv_dealloc,
	.tp_methods = resv_methods,
};

/* ------------------------------------------------------------------ */
/* Module functions                                                    */
/* ------------------------------------------------------------------ */

static PyObject *m_create(PyObject *mod, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path",   "capacity",   "flags",
	                         "window", "max_record", "max_consumers",
	                         "mode",   NULL};
	PyObject *path = NULL;
	unsigned long long cap = 0;
	unsigned flags = 0, window = 0, maxrec = 0, maxc = 0, mode = 0;
	struct mring_config cfg;
	int rc;

	(void)mod;
	if (!PyArg_ParseTupleAndKeywords(
		    args, kw, "O&|KIIIII", kwlist, PyUnicode_FSConverter, &path,
		    &cap, &flags, &window, &maxrec, &maxc, &mode))
		return NULL;
	mring_config_init(&cfg);
	cfg.capacity = cap;
	cfg.flags = flags;
	cfg.window = window;
	cfg.max_record = maxrec;
	cfg.max_consumers = maxc;
	cfg.mode = mode;
	Py_BEGIN_ALLOW_THREADS rc = mring_create(PyBytes_AS_STRING(path), &cfg);
	Py_END_ALLOW_THREADS if (rc < 0)
	{
		PyObject *fn =
			PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path));
		Py_DECREF(path);
		PyObject *exc = raise_code(rc, fn);
		Py_XDECREF(exc);
		Py_XDECREF(fn);
		return NULL;
	}
	Py_DECREF(path);
	Py_RETURN_NONE;
}

static PyObject *m_inspect(PyObject *mod, PyObject *args)
{
	PyObject *path = NULL, *d = NULL, *list = NULL;
	struct mring_info in;
	struct mring_consumer_info *cons = NULL;
	unsigned ncons = 0;
	int rc, bad = 0;

	(void)mod;
	if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
		return NULL;
	const char *p = PyBytes_AS_STRING(path);
	/* Twice if consumers joined in between. */
	for (int tries = 0; tries < 8; tries++) {
		Py_BEGIN_ALLOW_THREADS rc = mring_inspect(p, &in, cons, ncons);
		Py_END_ALLOW_THREADS if (rc < 0 || (unsigned)rc <= ncons) break;
		PyMem_Free(cons);
		ncons = (unsigned)rc;
		cons = PyMem_Calloc(ncons, sizeof(*cons));
		if (!cons) {
			Py_DECREF(path);
			return PyErr_NoMemory();
		}
	}
	if (rc < 0) {
		PyObject *fn = PyUnicode_DecodeFSDefault(p);
		PyObject *exc = raise_code(rc, fn);
		Py_XDECREF(exc);
		Py_XDECREF(fn);
		goto out;
	}
	if ((unsigned)rc > ncons)
		rc = (int)ncons;
	d = PyDict_New();
	list = PyList_New(0);
	if (!d || !list)
		goto out;
	bad |= put_int(d, "format_version", in.format_version);
	bad |= put_u64(d, "flags", in.flags);
	bad |= put_u64(d, "capacity", in.capacity);
	bad |= put_u64(d, "data_offset", in.data_offset);
	bad |= put_u64(d, "file_size", in.file_size);
	bad |= put_u64(d, "window", in.window);
	bad |= put_u64(d, "max_record", in.max_record);
	bad |= put_u64(d, "max_consumers", in.max_consumers);
	bad |= put_u64(d, "consumers_in_use", in.consumers);
	bad |= put_u64(d, "head", in.head);
	bad |= put_u64(d, "tail", in.tail);
	bad |= put_u64(d, "synced", in.synced);
	bad |= put_int(d, "producer_alive", in.producer_alive);
	bad |= put_int(d, "eof", in.eof);
	bad |= put_int(d, "producer_pid", in.producer_pid);
	bad |= put_u64(d, "created_ns", in.created_ns);
	bad |= put_u64(d, "cache_bytes", in.cache_bytes);
	for (int i = 0; !bad && i < rc; i++) {
		PyObject *c = Py_BuildValue(
			"{s:s,s:K,s:O,s:O,s:i}", "name", cons[i].name,
			"position", (unsigned long long)cons[i].position,
			"durable", cons[i].durable ? Py_True : Py_False,
			"alive", cons[i].alive ? Py_True : Py_False, "pid",
			(int)cons[i].pid);
		if (!c || PyList_Append(list, c) < 0)
			bad = 1;
		Py_XDECREF(c);
	}
	if (!bad && PyDict_SetItemString(d, "consumer_slots", list) == 0) {
		Py_DECREF(list);
		PyMem_Free(cons);
		Py_DECREF(path);
		return d;
	}
out:
	Py_XDECREF(d);
	Py_XDECREF(list);
	PyMem_Free(cons);
	Py_DECREF(path);
	return NULL;
}

static PyObject *m_consumer_add(PyObject *mod, PyObject *args)
{
	PyObject *path;
	const char *name;
	int start = MRING_START_OLDEST, rc;

	(void)mod;
	if (!PyArg_ParseTuple(args, "O&s|i", PyUnicode_FSConverter, &path,
	                      &name, &start))
		return NULL;
	rc = mring_consumer_add(PyBytes_AS_STRING(path), name, start);
	Py_DECREF(path);
	if (rc < 0)
		return fail(NULL, rc);
	Py_RETURN_NONE;
}

static PyObject *m_consumer_remove(PyObject *mod, PyObject *args)
{
	PyObject *path;
	const char *name;
	int rc;

	(void)mod;
	if (!PyArg_ParseTuple(args, "O&s", PyUnicode_FSConverter, &path, &name))
		return NULL;
	rc = mring_consumer_remove(PyBytes_AS_STRING(path), name);
	Py_DECREF(path);
	if (rc < 0)
		return fail(NULL, rc);
	Py_RETURN_NONE;
}

static PyObject *m_strerror(PyObject *mod, PyObject *arg)
{
	(void)mod;
	long code = PyLong_AsLong(arg);
	if (code == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(mring_strerror((int)code));
}

static PyObject *m_register(PyObject *mod, PyObject *args)
{
	PyObject *map, *base;

	(void)mod;
	if (!PyArg_ParseTuple(args, "O!O", &PyDict_Type, &map, &base))
		return NULL;
	Py_INCREF(map);
	Py_INCREF(base);
	Py_XSETREF(err_map, map);
	Py_XSETREF(err_base, base);
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{"create", (PyCFunction)(void (*)(void))m_create,
         METH_VARARGS | METH_KEYWORDS, NULL},
	{"inspect", (PyCFunction)m_inspect, METH_VARARGS, NULL},
	{"consumer_add", (PyCFunction)m_consumer_add, METH_VARARGS, NULL},
	{"consumer_remove", (PyCFunction)m_consumer_remove, METH_VARARGS, NULL},
	{"strerror", (PyCFunction)m_strerror, METH_O,
         "strerror(code)\n--\n\nThe library's message for an error code."},
	{"_register", (PyCFunction)m_register, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "mring._mring",
	.m_doc = "C core of the mring binding; use the mring package.",
	.m_size = -1,
	.m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__mring(void)
{
	PyObject *m;

	str_release = PyUnicode_InternFromString("release");
	if (!str_release)
		return NULL;
	if (PyType_Ready(&RingType) < 0 || PyType_Ready(&BufType) < 0 ||
	    PyType_Ready(&ResvType) < 0)
		return NULL;
	m = PyModule_Create(&module);
	if (!m)
		return NULL;
	Py_INCREF(&RingType);
	Py_INCREF(&ResvType);
	if (PyModule_AddObject(m, "Ring", (PyObject *)&RingType) < 0 ||
	    PyModule_AddObject(m, "Reservation", (PyObject *)&ResvType) < 0)
		goto err;
#define C(name, val)                                   \
	if (PyModule_AddIntConstant(m, name, val) < 0) \
		goto err;
	C("PRODUCER", MRING_PRODUCER)
	C("CONSUMER", MRING_CONSUMER)
	C("F_RECORDS", MRING_F_RECORDS)
	C("F_OVERWRITE", MRING_F_OVERWRITE)
	C("F_CRC", MRING_F_CRC)
	C("F_TIMESTAMPS", MRING_F_TIMESTAMPS)
	C("F_PREALLOC", MRING_F_PREALLOC)
	C("F_NO_PREFETCH", MRING_F_NO_PREFETCH)
	C("F_READONLY", MRING_F_READONLY)
	C("F_ANY_OWNER", MRING_F_ANY_OWNER)
	C("START_OLDEST", MRING_START_OLDEST)
	C("START_NEWEST", MRING_START_NEWEST)
	C("SEEK_OLDEST", MRING_SEEK_OLDEST)
	C("SEEK_NEWEST", MRING_SEEK_NEWEST)
	C("SEEK_POS", MRING_SEEK_POS)
	C("SEEK_SEQ", MRING_SEEK_SEQ)
	C("SEEK_TIME", MRING_SEEK_TIME)
#define MRING__C(name, val, msg) C(#name, val)
	MRING_ERRNO_MAP(MRING__C)
#undef MRING__C
#undef C
	if (PyModule_AddStringConstant(m, "library_version", mring_version()) <
	    0)
		goto err;
	return m;
err:
	Py_DECREF(m);
	return NULL;
}
