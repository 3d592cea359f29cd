/* kmimg/_buffers.h: how kmimg's C extensions (_engine, _dither, _png) take arrays from Python.
 *
 * One idiom in every function that takes arrays:
 *
 *     Buf b[2] = {{0}};
 *     if (buffer_get(points, &b[0], 0, 4 * dim, n, "points") < 0 ||
 *         buffer_get(labels, &b[1], 1, 8, n, "labels") < 0)
 *         return buffers_done(b, 2, NULL);
 *     ... work on b[i].view.buf ...
 *     return buffers_done(b, 2, result);
 *
 * The arrays are parsed as plain objects ("O"), after the sizes they are checked against. Each
 * is acquired into a slot of one Buf array: C-contiguous, writable when the function writes to
 * it, and exactly `items` x `item` bytes long, or a ValueError that names the argument. Every
 * way out releases the whole array (slots never acquired are skipped), so no path can leak a
 * buffer or release one twice. A size whose product would overflow is an error, never
 * undefined behaviour.
 */
#ifndef KMIMG_BUFFERS_H
#define KMIMG_BUFFERS_H

#include <Python.h>

typedef struct {
    Py_buffer view;
    int held;
} Buf;

/* 0, or -1 with an exception set. */
static inline int buffer_get(PyObject *obj, Buf *buf, int writable, Py_ssize_t item, Py_ssize_t items,
                             const char *name) {
    if (item < 0 || items < 0 || (item > 0 && items > PY_SSIZE_T_MAX / item)) {
        PyErr_Format(PyExc_ValueError, "%s: size out of range", name);
        return -1;
    }
    int flags = writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS;
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0) return -1;
    buf->held = 1;
    if (buf->view.len != item * items) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, but the sizes given need %zd", name, buf->view.len,
                     item * items);
        return -1;
    }
    return 0;
}

static inline void buffers_release(Buf *bufs, int count) {
    for (int i = 0; i < count; i++) {
        if (bufs[i].held) PyBuffer_Release(&bufs[i].view);
        bufs[i].held = 0;
    }
}

/* Release the call's buffers and return `result` (NULL when an exception is set). */
static inline PyObject *buffers_done(Buf *bufs, int count, PyObject *result) {
    buffers_release(bufs, count);
    return result;
}

#endif /* KMIMG_BUFFERS_H */
