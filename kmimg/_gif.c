/* kmimg._gif: the LZW coder of kmimg's GIF writer (kmimg/io/gif.py).
 *
 * lzw(pixels, count, bits, window) -> bytes: a GIF image's data, `count` indices (each below
 * 2^bits, 2 <= bits <= 8) coded as GIF89a says (appendix F): the LZW minimum code size byte,
 * then the codes, least significant bit first, in data sub-blocks of up to 255 bytes, then the
 * block terminator. The first code is a clear code and the last the end-of-information code;
 * codes start at bits + 1 bits and grow by one as soon as the decoder's next table entry needs
 * it (the "early change" every GIF decoder makes), up to 12. Greedy parsing: each code is the
 * longest string in the table.
 *
 * When the table is full (4096 codes), `window` says what happens: 0 sends a clear code at once
 * (what most encoders do, Pillow's included); a positive `window` keeps the full table (the
 * decoder adds no entries) and measures the bits per index over each `window` indices, sending
 * a clear code only when a window costs more than the best window since the table filled by
 * more than an eighth: a table that still fits the image is kept. Both are valid GIF; the
 * writer codes a frame both ways and keeps the smaller.
 *
 * lzw_lossy(pixels, count, bits, window, rgb, canvas, flags, palette, entries, keep, price)
 * -> (data, indices, added): the same coder, allowed to show another index where that lets
 * the current string run longer: at every pixel, the indices that extend the current string
 * (the pixel's own among them, when the table holds it) whose colour adds at most `price` of
 * squared error (R, G, B summed, against `rgb`, the pixel's true colour) are tried, and the one
 * after which the string matches the most of the next pixels exactly is taken (of those, the one
 * of least error: the pixel's own index on a tie). The colour of an index is palette[index]
 * (`entries` RGB rows), or for `keep` the pixel's colour on the canvas (`canvas`, allowed only
 * where flags bit 1 is set: the canvas shows a colour there); a pixel with flags bit 0 set is
 * locked (coded exactly). Returns the data, the indices as coded (`count` bytes) and the squared
 * error added. Coding those indices again with lzw() and the same `window` gives the same data:
 * the lossy coder extends a string only by an index the table holds, and where it starts a new
 * string the table holds no extension by the pixel's index, so the greedy parse stops there too.
 *
 * The GIL is released while coding. ValueError for an index at or above 2^bits.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_buffers.h"

#define MAX_CODES 4096

typedef struct {
    uint8_t *data; /* the codes' bytes, before they are cut into sub-blocks */
    size_t len, cap;
    uint64_t acc;
    int held; /* bits in acc */
    int failed;
} Bits;

static void put(Bits *out, unsigned code, int size) {
    out->acc |= (uint64_t)code << out->held;
    out->held += size;
    while (out->held >= 8) {
        if (out->len == out->cap) {
            size_t cap = out->cap * 2 + 256;
            uint8_t *grown = (uint8_t *)realloc(out->data, cap);
            if (!grown) {
                out->failed = 1;
                out->len = 0;
            } else {
                out->data = grown;
                out->cap = cap;
            }
        }
        if (!out->failed) out->data[out->len++] = (uint8_t)out->acc;
        out->acc >>= 8;
        out->held -= 8;
    }
}

/* What lzw_lossy may change: NULL for the exact coder. */
typedef struct {
    const uint8_t *rgb, *canvas, *flags, *palette;
    int entries, keep;
    double price;
    uint8_t *coded;
    double added;
} Loss;

typedef struct {
    int bits, clear, next, size, window;
    uint16_t *child;  /* child[code << bits | index]: the code of string(code) + index, or 0 */
    uint16_t *parent; /* parent[code], suffix[code]: how entry `code` was made (to undo it) */
    uint8_t *suffix;
    /* the deferred clear: bits sent and indices coded in the current window, the best rate */
    size_t sent, coded;
    double best;
} Coder;

static void reset(Coder *c) {
    for (int code = c->clear + 2; code < c->next; code++) c->child[(size_t)c->parent[code] << c->bits | c->suffix[code]] = 0;
    c->next = c->clear + 2;
    c->size = c->bits + 1;
    c->best = -1.0;
    c->sent = c->coded = 0;
}

/* Send `code`, add the entry `code` + `index` (when there is room), and clear when due. */
static void emit(Coder *c, Bits *out, unsigned code, unsigned index, size_t done) {
    put(out, code, c->size);
    c->sent += (size_t)c->size;
    if (c->next < MAX_CODES) {
        c->child[(size_t)code << c->bits | index] = (uint16_t)c->next;
        c->parent[c->next] = (uint16_t)code;
        c->suffix[c->next] = (uint8_t)index;
        if (c->next == (1 << c->size) && c->size < 12) c->size++;
        c->next++;
        if (c->next == MAX_CODES) c->coded = done, c->sent = 0;
        if (c->next < MAX_CODES || c->window > 0) return;
    } else if (done - c->coded < (size_t)c->window) {
        return;
    } else {
        double rate = (double)c->sent / (double)(done - c->coded);
        c->sent = 0, c->coded = done;
        if (c->best < 0.0 || rate < c->best) c->best = rate;
        if (rate <= c->best * 1.125) return;
    }
    put(out, (unsigned)c->clear, c->size);
    reset(c);
}

static inline double error_of(const Loss *loss, size_t p, int index) {
    const uint8_t *want = loss->rgb + 3 * p, *shown;
    if (index == loss->keep) {
        if (!(loss->flags[p] & 2)) return -1.0;
        shown = loss->canvas + 3 * p;
    } else if (index < loss->entries) {
        shown = loss->palette + 3 * index;
    } else {
        return -1.0;
    }
    double sum = 0.0;
    for (int i = 0; i < 3; i++) sum += ((double)want[i] - shown[i]) * ((double)want[i] - shown[i]);
    return sum;
}

/* How many pixels from p on the table's string from `code` matches exactly. */
static size_t reach(const Coder *c, const uint8_t *pixels, size_t p, size_t count, unsigned code) {
    size_t q = p;
    while (q < count) {
        unsigned next = c->child[(size_t)code << c->bits | pixels[q]];
        if (!next) break;
        code = next;
        q++;
    }
    return q - p;
}

/* The code of string(code) extended by an index (the pixel's own, *index, or another) whose
 * colour at pixel p adds at most `price`, or 0; *index is set to it. Of those, the one whose
 * string then matches the most pixels after p exactly, then the one of least error. */
static unsigned extend_lossy(Coder *c, Loss *loss, const uint8_t *pixels, size_t p, size_t count, unsigned code,
                             unsigned *index) {
    if (loss->flags[p] & 1) return 0;
    double base = error_of(loss, p, (int)*index), limit = loss->price, least = 0.0;
    if (base < 0.0) return 0;
    unsigned found = 0, chosen = *index;
    size_t longest = 0;
    for (unsigned other = 0; other < (1u << c->bits); other++) {
        unsigned next = c->child[(size_t)code << c->bits | other];
        if (!next) continue;
        double extra = error_of(loss, p, (int)other);
        if (extra < 0.0) continue;
        extra -= base;
        if (extra > limit) continue;
        size_t more = reach(c, pixels, p + 1, count, next);
        if (!found || more > longest || (more == longest && extra < least))
            found = next, least = extra, chosen = other, longest = more;
    }
    if (found) *index = chosen, loss->added += least;
    return found;
}

/* The last string's code and the end-of-information code. */
static int finish(Coder *c, Bits *out, unsigned code) {
    put(out, code, c->size);
    if (c->next < MAX_CODES) { /* the decoder adds an entry here: the size may grow */
        if (c->next == (1 << c->size) && c->size < 12) c->size++;
    }
    put(out, (unsigned)c->clear + 1, c->size);
    put(out, 0, 7); /* flush the last byte */
    return out->failed ? -1 : 0;
}

static int code_all(Coder *c, Bits *out, const uint8_t *pixels, size_t count, Loss *loss) {
    put(out, (unsigned)c->clear, c->size);
    unsigned code = pixels[0];
    if (loss) loss->coded[0] = pixels[0];
    for (size_t p = 1; p < count; p++) {
        unsigned index = pixels[p];
        unsigned next = c->child[(size_t)code << c->bits | index];
        if (loss) { /* the string may take another index: the exact one is among those tried */
            unsigned other = extend_lossy(c, loss, pixels, p, count, code, &index);
            if (other) next = other;
        }
        if (loss) loss->coded[p] = (uint8_t)index;
        if (next) {
            code = next;
            continue;
        }
        emit(c, out, code, index, p);
        code = index;
    }
    return finish(c, out, code);
}

/* The image data: the minimum code size, the sub-blocks and the terminator. */
static PyObject *blocks(const Bits *out, int bits) {
    size_t len = out->len, count = (len + 254) / 255;
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(1 + len + count + 1));
    if (!result) return NULL;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(result);
    *o++ = (uint8_t)bits;
    for (size_t at = 0; at < len; at += 255) {
        size_t n = len - at < 255 ? len - at : 255;
        *o++ = (uint8_t)n;
        memcpy(o, out->data + at, n);
        o += n;
    }
    *o = 0;
    return result;
}

static int check(const uint8_t *pixels, Py_ssize_t count, int bits) {
    for (Py_ssize_t p = 0; p < count; p++)
        if (pixels[p] >> bits) {
            PyErr_SetString(PyExc_ValueError, "lzw: an index does not fit the code size");
            return -1;
        }
    return 0;
}

/* Code `count` pixels; the data as bytes, or NULL with an exception set. */
static PyObject *run(const uint8_t *pixels, Py_ssize_t count, int bits, int window, Loss *loss) {
    if (check(pixels, count, bits) < 0) return NULL;
    Coder c = {bits, 1 << bits, 0, 0, window, NULL, NULL, NULL, 0, 0, -1.0};
    c.next = c.clear + 2;
    c.size = bits + 1;
    c.child = (uint16_t *)calloc((size_t)MAX_CODES << bits, sizeof(uint16_t));
    c.parent = (uint16_t *)calloc(MAX_CODES, sizeof(uint16_t));
    c.suffix = (uint8_t *)calloc(MAX_CODES, 1);
    Bits out = {NULL, 0, 0, 0, 0, 0};
    int status = -1;
    if (c.child && c.parent && c.suffix) {
        Py_BEGIN_ALLOW_THREADS;
        status = code_all(&c, &out, pixels, (size_t)count, loss);
        Py_END_ALLOW_THREADS;
    }
    free(c.child);
    free(c.parent);
    free(c.suffix);
    PyObject *result = status < 0 ? PyErr_NoMemory() : blocks(&out, bits);
    free(out.data);
    return result;
}

static int check_sizes(Py_ssize_t count, int bits, int window) {
    if (count < 1 || bits < 2 || bits > 8 || window < 0) {
        PyErr_SetString(PyExc_ValueError, "lzw: at least one pixel, 2 to 8 bits and a window >= 0 are needed");
        return -1;
    }
    return 0;
}

static PyObject *lzw(PyObject *self, PyObject *args) {
    PyObject *pixels;
    Py_ssize_t count;
    int bits, window;
    (void)self;
    if (!PyArg_ParseTuple(args, "Onii", &pixels, &count, &bits, &window)) return NULL;
    if (check_sizes(count, bits, window) < 0) return NULL;
    Buf b[1] = {{0}};
    if (buffer_get(pixels, &b[0], 0, 1, count, "pixels") < 0) return buffers_done(b, 1, NULL);
    return buffers_done(b, 1, run((const uint8_t *)b[0].view.buf, count, bits, window, NULL));
}

static PyObject *lzw_lossy(PyObject *self, PyObject *args) {
    PyObject *pixels, *rgb, *canvas, *flags, *palette;
    Py_ssize_t count;
    int bits, window, entries, keep;
    double price;
    (void)self;
    if (!PyArg_ParseTuple(args, "OniiOOOOiid", &pixels, &count, &bits, &window, &rgb, &canvas, &flags, &palette,
                          &entries, &keep, &price))
        return NULL;
    if (check_sizes(count, bits, window) < 0) return NULL;
    if (entries < 0 || entries > 256 || !(price >= 0.0)) {
        PyErr_SetString(PyExc_ValueError, "lzw_lossy: 0 to 256 palette entries and a price >= 0 are needed");
        return NULL;
    }
    Buf b[5] = {{0}};
    if (buffer_get(pixels, &b[0], 0, 1, count, "pixels") < 0 || buffer_get(rgb, &b[1], 0, 3, count, "rgb") < 0 ||
        buffer_get(canvas, &b[2], 0, 3, count, "canvas") < 0 || buffer_get(flags, &b[3], 0, 1, count, "flags") < 0 ||
        buffer_get(palette, &b[4], 0, 3, entries, "palette") < 0)
        return buffers_done(b, 5, NULL);
    PyObject *coded = PyBytes_FromStringAndSize(NULL, count);
    if (!coded) return buffers_done(b, 5, NULL);
    Loss loss = {(const uint8_t *)b[1].view.buf, (const uint8_t *)b[2].view.buf, (const uint8_t *)b[3].view.buf,
                 (const uint8_t *)b[4].view.buf, entries, keep, price, (uint8_t *)PyBytes_AS_STRING(coded), 0.0};
    PyObject *data = run((const uint8_t *)b[0].view.buf, count, bits, window, &loss);
    if (!data) {
        Py_DECREF(coded);
        return buffers_done(b, 5, NULL);
    }
    return buffers_done(b, 5, Py_BuildValue("(NNd)", data, coded, loss.added));
}

static PyMethodDef methods[] = {
    {"lzw", lzw, METH_VARARGS, "GIF image data: indices LZW-coded (greedy; clear when full, or deferred)."},
    {"lzw_lossy", lzw_lossy, METH_VARARGS,
     "GIF image data, an index changed where that extends a string for at most a code's price of error."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kmimg._gif", "GIF LZW coding.", -1, methods};

PyMODINIT_FUNC PyInit__gif(void) { return PyModule_Create(&module); }
