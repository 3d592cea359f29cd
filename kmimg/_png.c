/* kmimg._png: PNG row filtering for kmimg's truecolour and grey PNG writer, and the reverse
 * for its reader of plain 8-bit PNGs (kmimg/io/png.py).
 *
 * filter_rows(source, height, row_bytes, bpp, out, start, stop) writes rows start..stop-1 of
 * `source` (height x row_bytes bytes, `bpp` bytes per pixel) into `out` (height x
 * (row_bytes + 1) bytes), each row preceded by its filter type. The type is chosen per row as
 * libpng does by default: the one of the five (None, Sub, Up, Average, Paeth) whose filtered
 * bytes, read as signed, have the smallest sum of absolute values (ties: the lowest type).
 *
 * An optional last argument `type` (0-4) gives every row that filter instead of the heuristic's
 * choice (the indexed writer's filter trials, kmimg/io/png.py); -2 chooses each row's type by
 * another measure, the number of distinct pairs of neighbouring bytes in the filtered row (the
 * fewest wins, ties the lowest type; oxipng's "Bigrams"): on palette indices, whose values are
 * labels rather than intensities, it tells rows that repeat the one above (Up: all zero) or
 * hold long runs from rows of texture, where libpng's sum of absolute values says little.
 *
 * A row depends only on itself and the row above in `source`, so disjoint row ranges may run
 * on separate threads (the GIL is released) and the bytes never depend on how they are split.
 *
 * unfilter_rows(data, height, row_bytes, bpp, out) -> 0, or the 1-based number of the first row
 * whose filter type is not 0-4: the inverse, from inflated PNG data (height x (row_bytes + 1)
 * bytes) to the pixel rows (height x row_bytes bytes).
 *
 * unfinish_deflate(stream) -> bytes: a complete raw deflate stream (libdeflate's, say) made the
 * first part of a longer one, as zlib's gzjoin does: the last block's BFINAL bit cleared, and an
 * empty stored block appended after it (what a sync flush writes), so that the stream ends on a
 * byte boundary and another deflate stream may follow it. The stream is inflated once (zlib's
 * Z_BLOCK stops at every block boundary) to find its last block; the inflated bytes are thrown
 * away. The GIL is released. ValueError for data that is not exactly one raw deflate stream.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "_buffers.h"

/* The PNG specification's Paeth predictor, (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c),
 * written as two selections that compile to conditional moves: photos' rows are mostly Paeth,
 * and the branches of the usual form mispredict on their noise. */
static inline int paeth(int a, int b, int c) {
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    int near = pa <= pb ? a : b, least = pa <= pb ? pa : pb;
    return least <= pc ? near : c;
}

/* |v| of a filtered byte read as signed, libpng's measure of how well a filter did. */
static inline unsigned weight(unsigned v) { return v < 128u ? v : 256u - v; }

/* One filtered row: out[i] for type `type`. `prior` is the row above (all zero for the first
 * row); bytes before the first pixel count as zero, as the PNG specification says. Each loop
 * is branch-free in its body so that the compiler can vectorise it. */
static void apply(int type, const uint8_t *x, const uint8_t *b, Py_ssize_t n, int bpp, uint8_t *out) {
    Py_ssize_t head = n < bpp ? n : bpp;
    switch (type) {
    case 1:
        for (Py_ssize_t i = 0; i < head; i++) out[i] = x[i];
        for (Py_ssize_t i = bpp; i < n; i++) out[i] = (uint8_t)(x[i] - x[i - bpp]);
        break;
    case 2:
        for (Py_ssize_t i = 0; i < n; i++) out[i] = (uint8_t)(x[i] - b[i]);
        break;
    case 3:
        for (Py_ssize_t i = 0; i < head; i++) out[i] = (uint8_t)(x[i] - (b[i] >> 1));
        for (Py_ssize_t i = bpp; i < n; i++) out[i] = (uint8_t)(x[i] - ((x[i - bpp] + b[i]) >> 1));
        break;
    case 4:
        for (Py_ssize_t i = 0; i < head; i++) out[i] = (uint8_t)(x[i] - b[i]); /* paeth(0, b, 0) = b */
        for (Py_ssize_t i = bpp; i < n; i++) out[i] = (uint8_t)(x[i] - paeth(x[i - bpp], b[i], b[i - bpp]));
        break;
    default:
        for (Py_ssize_t i = 0; i < n; i++) out[i] = x[i];
    }
}

static uint64_t cost(const uint8_t *filtered, Py_ssize_t n) {
    uint64_t sum = 0;
    for (Py_ssize_t i = 0; i < n; i++) sum += weight(filtered[i]);
    return sum;
}

/* Distinct pairs of neighbouring bytes in filtered[0..n-1]. `seen` holds 65,536 stamps; a pair
 * counts when its stamp is not yet `*stamp`, which is advanced on every call (the table is
 * cleared only when the stamp wraps). */
static uint64_t bigrams(const uint8_t *filtered, Py_ssize_t n, uint32_t *seen, uint32_t *stamp) {
    if (++*stamp == 0) {
        memset(seen, 0, 65536 * sizeof(uint32_t));
        *stamp = 1;
    }
    uint32_t now = *stamp;
    uint64_t count = 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        unsigned pair = (unsigned)filtered[i - 1] << 8 | filtered[i];
        count += seen[pair] != now;
        seen[pair] = now;
    }
    return count;
}

/* How a row's filtered bytes are scored: libpng's sum of absolute values, or its distinct
 * neighbouring pairs (`seen` not NULL). */
static uint64_t score(const uint8_t *filtered, Py_ssize_t n, uint32_t *seen, uint32_t *stamp) {
    return seen ? bigrams(filtered, n, seen, stamp) : cost(filtered, n);
}

/* Filters row x (row above: b) into out[0] = type, out[1..n] = bytes; scratch: n bytes. A
 * `fixed` type of 0-4 is used as given; otherwise the type with the lowest `score` (`seen`
 * and `stamp`: see there). */
static void filter_row(const uint8_t *x, const uint8_t *b, Py_ssize_t n, int bpp, uint8_t *out, uint8_t *scratch,
                       int fixed, uint32_t *seen, uint32_t *stamp) {
    if (fixed >= 0) {
        out[0] = (uint8_t)fixed;
        apply(fixed, x, b, n, bpp, out + 1);
        return;
    }
    int best = 0;
    uint64_t least = score(x, n, seen, stamp);
    for (int type = 1; type < 5 && !(seen && least <= 1); type++) { /* one pair: no type has fewer */
        apply(type, x, b, n, bpp, scratch);
        uint64_t sum = score(scratch, n, seen, stamp);
        if (sum < least) {
            least = sum;
            best = type;
        }
    }
    out[0] = (uint8_t)best;
    apply(best, x, b, n, bpp, out + 1);
}

static PyObject *filter_rows(PyObject *self, PyObject *args) {
    PyObject *source, *out;
    Py_ssize_t height, row_bytes, start, stop;
    int bpp, fixed = -1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnniOnn|i", &source, &height, &row_bytes, &bpp, &out, &start, &stop, &fixed))
        return NULL;
    if (height < 0 || row_bytes < 0 || row_bytes == PY_SSIZE_T_MAX || bpp < 1 || bpp > 8 || start < 0 ||
        stop > height || start > stop || fixed < -2 || fixed > 4) {
        PyErr_SetString(PyExc_ValueError, "filter_rows: bad sizes or row range");
        return NULL;
    }
    Buf b[2] = {{0}};
    if (buffer_get(source, &b[0], 0, row_bytes, height, "source") < 0 ||
        buffer_get(out, &b[1], 1, row_bytes + 1, height, "out") < 0)
        return buffers_done(b, 2, NULL);
    const uint8_t *src = (const uint8_t *)b[0].view.buf;
    uint8_t *dst = (uint8_t *)b[1].view.buf;
    uint8_t *scratch = (uint8_t *)calloc((size_t)row_bytes * 2 + 1, 1); /* a row, and a zero row */
    if (!scratch) return buffers_done(b, 2, PyErr_NoMemory());
    const uint8_t *zero = scratch + row_bytes + 1;
    uint32_t *seen = NULL, stamp = 0;
    if (fixed == -2 && !(seen = (uint32_t *)calloc(65536, sizeof(uint32_t)))) {
        free(scratch);
        return buffers_done(b, 2, PyErr_NoMemory());
    }
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t y = start; y < stop; y++) {
        const uint8_t *row = src + y * row_bytes;
        filter_row(row, y ? row - row_bytes : zero, row_bytes, bpp, dst + y * (row_bytes + 1), scratch, fixed, seen,
                   &stamp);
    }
    Py_END_ALLOW_THREADS;
    free(seen);
    free(scratch);
    return buffers_done(b, 2, Py_NewRef(Py_None));
}

/* Sub, Average and Paeth rows, one pixel at a time with the pixel to the left (a) and above
 * left (c) held in locals: with `bpp` a constant the channel loop unrolls and no byte waits on
 * the store of the one before it (a byte loop reading x[i - bpp] took a third longer). */
static inline void unfilter_pixels(int type, const uint8_t *f, const uint8_t *b, Py_ssize_t n, const int bpp,
                                   uint8_t *x) {
    uint8_t a[8] = {0}, c[8] = {0};
    for (Py_ssize_t i = 0; i < n; i += bpp) {
        for (int d = 0; d < bpp; d++) {
            const uint8_t up = b[i + d];
            uint8_t v;
            if (type == 1) v = (uint8_t)(f[i + d] + a[d]);
            else if (type == 3) v = (uint8_t)(f[i + d] + ((a[d] + up) >> 1));
            else v = (uint8_t)(f[i + d] + paeth(a[d], up, c[d]));
            x[i + d] = v;
            a[d] = v;
            c[d] = up;
        }
    }
}

static void unfilter_by_pixel(int type, const uint8_t *f, const uint8_t *b, Py_ssize_t n, int bpp, uint8_t *x) {
    switch (bpp) { /* the layouts of 8-bit PNGs, each with its constant */
    case 1:
        unfilter_pixels(type, f, b, n, 1, x);
        break;
    case 2:
        unfilter_pixels(type, f, b, n, 2, x);
        break;
    case 3:
        unfilter_pixels(type, f, b, n, 3, x);
        break;
    case 4:
        unfilter_pixels(type, f, b, n, 4, x);
        break;
    default:
        unfilter_pixels(type, f, b, n, bpp, x);
    }
}

/* Row x from its filtered bytes f (type `type`) and the row above b (all zero for the first
 * row); 0, or -1 for an unknown type. `n` is a whole number of pixels. */
static int unfilter_row(int type, const uint8_t *f, const uint8_t *b, Py_ssize_t n, int bpp, uint8_t *x) {
    switch (type) {
    case 0:
        memcpy(x, f, (size_t)n);
        break;
    case 2:
        for (Py_ssize_t i = 0; i < n; i++) x[i] = (uint8_t)(f[i] + b[i]);
        break;
    case 1:
    case 3:
    case 4:
        unfilter_by_pixel(type, f, b, n, bpp, x);
        break;
    default:
        return -1;
    }
    return 0;
}

static PyObject *unfilter_rows(PyObject *self, PyObject *args) {
    PyObject *data, *out;
    Py_ssize_t height, row_bytes;
    int bpp;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnniO", &data, &height, &row_bytes, &bpp, &out)) return NULL;
    if (height < 0 || row_bytes < 0 || row_bytes == PY_SSIZE_T_MAX || bpp < 1 || bpp > 8 || row_bytes % bpp) {
        PyErr_SetString(PyExc_ValueError, "unfilter_rows: bad sizes");
        return NULL;
    }
    Buf b[2] = {{0}};
    if (buffer_get(data, &b[0], 0, row_bytes + 1, height, "data") < 0 ||
        buffer_get(out, &b[1], 1, row_bytes, height, "out") < 0)
        return buffers_done(b, 2, NULL);
    const uint8_t *src = (const uint8_t *)b[0].view.buf;
    uint8_t *dst = (uint8_t *)b[1].view.buf;
    uint8_t *zero = (uint8_t *)calloc((size_t)row_bytes + 1, 1);
    if (!zero) return buffers_done(b, 2, PyErr_NoMemory());
    Py_ssize_t bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t y = 0; y < height && !bad; y++) {
        const uint8_t *row = src + y * (row_bytes + 1);
        uint8_t *x = dst + y * row_bytes;
        if (unfilter_row(row[0], row + 1, y ? x - row_bytes : zero, row_bytes, bpp, x) < 0) bad = y + 1;
    }
    Py_END_ALLOW_THREADS;
    free(zero);
    return buffers_done(b, 2, PyLong_FromSsize_t(bad));
}

/* Where the stream's last block header starts and where the stream ends: `*header` is the byte
 * holding the BFINAL bit, `*mask` that bit, `*used` the bytes the stream takes and `*unused` the
 * bits of its last byte that are not part of it (the high ones). 0, or -1 when `in` is not one
 * whole raw deflate stream (or zlib has no memory). */
static int find_last_block(const uint8_t *in, size_t len, size_t *header, unsigned *mask, size_t *used,
                           unsigned *unused) {
    z_stream strm;
    memset(&strm, 0, sizeof strm);
    if (inflateInit2(&strm, -15) != Z_OK) return -1;
    static const size_t JUNK = 1 << 16;
    uint8_t *junk = (uint8_t *)malloc(JUNK);
    if (!junk) {
        inflateEnd(&strm);
        return -1;
    }
    strm.next_in = (Bytef *)in; /* zlib does not write through next_in */
    int status = -1;
    size_t at = 0, done = 0; /* `done`: input consumed, so zlib's avail_in (a uInt) never overflows */
    unsigned bit = 1;
    for (;;) {
        if (strm.avail_in == 0) {
            size_t left = len - done;
            strm.avail_in = (uInt)(left > (1u << 30) ? (1u << 30) : left);
            done += strm.avail_in;
        }
        strm.next_out = junk;
        strm.avail_out = (uInt)JUNK;
        int ret = inflate(&strm, Z_BLOCK);
        if (ret != Z_OK && ret != Z_BUF_ERROR) break; /* Z_STREAM_END never comes first under Z_BLOCK */
        size_t consumed = (size_t)(strm.next_in - (const Bytef *)in);
        if (strm.data_type & 128) {    /* just after a block's end-of-block code */
            unsigned free_bits = (unsigned)strm.data_type & 7;
            if (strm.data_type & 64) { /* that was the last block */
                if (consumed == len) {
                    *header = at;
                    *mask = bit;
                    *used = consumed;
                    *unused = free_bits;
                    status = 0;
                }
                break;
            }
            at = free_bits ? consumed - 1 : consumed; /* the next block's BFINAL bit */
            bit = free_bits ? 0x100u >> free_bits : 1u;
        }
        if (ret == Z_BUF_ERROR && strm.avail_in == 0 && done == len) break; /* truncated */
    }
    free(junk);
    inflateEnd(&strm);
    return status;
}

static PyObject *unfinish_deflate(PyObject *self, PyObject *args) {
    PyObject *stream;
    (void)self;
    if (!PyArg_ParseTuple(args, "O", &stream)) return NULL;
    Buf b[1] = {{0}};
    if (PyObject_GetBuffer(stream, &b[0].view, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    b[0].held = 1;
    const uint8_t *in = (const uint8_t *)b[0].view.buf;
    size_t len = (size_t)b[0].view.len, header = 0, used = 0;
    unsigned mask = 0, unused = 0;
    int found;
    Py_BEGIN_ALLOW_THREADS;
    found = len > 0 ? find_last_block(in, len, &header, &mask, &used, &unused) : -1;
    Py_END_ALLOW_THREADS;
    if (found < 0) {
        PyErr_SetString(PyExc_ValueError, "unfinish_deflate: not one whole raw deflate stream");
        return buffers_done(b, 1, NULL);
    }
    /* The empty stored block: 3 header bits (not final, stored), zeros to the byte boundary,
     * then LEN = 0 and NLEN = 0xffff. Its header fits in the last byte's unused bits when there
     * are 3 of them; otherwise it takes one more byte. */
    Py_ssize_t extra = (unused >= 3 ? 0 : 1) + 4;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)used + extra);
    if (!out) return buffers_done(b, 1, NULL);
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    memcpy(o, in, used);
    o[header] &= (uint8_t)~mask;
    o[used - 1] &= (uint8_t)(0xffu >> unused);
    uint8_t *tail = o + used;
    if (unused < 3) *tail++ = 0;
    memcpy(tail, "\x00\x00\xff\xff", 4);
    return buffers_done(b, 1, out);
}

static PyMethodDef methods[] = {
    {"filter_rows", filter_rows, METH_VARARGS, "Filter PNG rows (libpng's minimum-sum heuristic, or one given type)."},
    {"unfilter_rows", unfilter_rows, METH_VARARGS, "Undo PNG row filters (8-bit samples)."},
    {"unfinish_deflate", unfinish_deflate, METH_VARARGS,
     "A whole raw deflate stream, its last block not final and a sync flush's empty stored block after it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kmimg._png", "PNG row filtering and unfiltering, and deflate streams joined.", -1, methods};

PyMODINIT_FUNC PyInit__png(void) { return PyModule_Create(&module); }
