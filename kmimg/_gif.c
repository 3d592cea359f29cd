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
 * -> (data, indices, added): the same coder, allowed to show another index where that lets an
 * LZW string run longer, as gifsicle's --lossy does: each pixel may take its own index or one of
 * up to OPTIONS - 1 others whose colour adds at most `price` of squared error (R, G, B summed,
 * against `rgb`, the pixel's true colour), and each code is the longest string the table holds
 * whose pixels all take one of their options, then the one of least error (a depth-first search
 * of the table from the string's first index, the pixels' own indices first, of at most
 * SEARCH_NODES strings: the exact coder's string is the first it reaches). The colour of an
 * index is palette[index] (`entries` RGB rows), or for `keep` the pixel's colour on the canvas
 * (`canvas`, allowed only where flags bit 1 is set: the canvas shows a colour there); a pixel
 * with flags bit 0 set is locked (coded exactly). Returns the data, the indices as coded (`count`
 * bytes) and the squared error added (negative where another index is closer than the pixel's
 * own). Where a string ends, the next one starts with the option after which it runs longest
 * (a search from each). Coding those indices again with lzw() and the same `window` gives the
 * same data: a string ends only where the table holds no extension of it by the next string's
 * first index.
 *
 * The GIL is released while coding. ValueError for an index at or above 2^bits. The exact coder
 * keeps its 2 MB table between calls (Tables, below).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
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

/* Room for at least 4 more bytes; -1 (and out->failed) when there is no memory. */
static int grow(Bits *out) {
    if (out->failed) return -1;
    size_t cap = out->cap * 2 + 256;
    uint8_t *grown = (uint8_t *)realloc(out->data, cap);
    if (!grown) {
        out->failed = 1;
        return -1;
    }
    out->data = grown;
    out->cap = cap;
    return 0;
}

/* Send `size` bits of `code`, least significant first: whole 32-bit words go out as 4 bytes. */
static inline void put(Bits *out, unsigned code, int size) {
    out->acc |= (uint64_t)code << out->held;
    out->held += size;
    if (out->held < 32) return;
    if (out->cap - out->len >= 4 || grow(out) == 0) {
        uint8_t *o = out->data + out->len;
        uint64_t acc = out->acc;
        o[0] = (uint8_t)acc, o[1] = (uint8_t)(acc >> 8), o[2] = (uint8_t)(acc >> 16), o[3] = (uint8_t)(acc >> 24);
        out->len += 4;
    }
    out->acc >>= 32;
    out->held -= 32;
}

/* The bits still held, the last byte padded with zeros. */
static void flush(Bits *out) {
    while (out->held > 0) {
        if (out->cap - out->len >= 4 || grow(out) == 0) out->data[out->len++] = (uint8_t)out->acc;
        out->acc >>= 8;
        out->held -= 8;
    }
    out->held = 0;
}

/* What lzw_lossy may change: NULL for the exact coder. */
typedef struct {
    const uint8_t *rgb, *canvas, *flags, *palette;
    int entries, keep;
    double price;
    uint8_t *coded;
    double added;
    uint8_t *options; /* per pixel, up to OPTIONS indices within `price`, the pixel's own first */
    float *extras;    /* and the error each adds */
    uint8_t *counts;  /* how many */
} Loss;

/* The most indices a pixel may take in the string search, and the most trie nodes it visits
 * for one string. */
#define OPTIONS 8
#define SEARCH_NODES 512

typedef struct {
    int bits, clear, next, size, window;
    /* child[index << 12 | code]: the code of string(code) + index, or 0. By index, then code:
     * codes made one after another come from nearby pixels, and so do the look-ups by one index
     * of them (a few percent faster than by code, then index, on the bench's frames). */
    uint16_t *child;
    uint16_t *parent; /* parent[code], suffix[code]: how entry `code` was made (to undo it) */
    uint8_t *suffix;
    /* the deferred clear: bits sent and indices coded in the current window, the best rate */
    size_t sent, coded;
    double best;
    int resets; /* how many clears so far */
} Coder;

static inline unsigned child_of(const Coder *c, unsigned code, unsigned index) {
    return c->child[(size_t)index << 12 | code];
}

static void reset(Coder *c) {
    for (int code = c->clear + 2; code < c->next; code++)
        c->child[(size_t)c->suffix[code] << 12 | c->parent[code]] = 0;
    c->next = c->clear + 2;
    c->size = c->bits + 1;
    c->best = -1.0;
    c->sent = c->coded = 0;
    c->resets++;
}

/* Send `code`, add the entry `code` + `index` (when there is room), and clear when due. */
static inline void emit(Coder *c, Bits *out, unsigned code, unsigned index, size_t done) {
    put(out, code, c->size);
    c->sent += (size_t)c->size;
    if (c->next < MAX_CODES) {
        c->child[(size_t)index << 12 | code] = (uint16_t)c->next;
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

static inline int distance(const uint8_t *a, const uint8_t *b) {
    int dr = (int)a[0] - b[0], dg = (int)a[1] - b[1], db = (int)a[2] - b[2];
    return dr * dr + dg * dg + db * db;
}

/* Each pixel's options for the string search: its own index (extra error 0), then up to
 * OPTIONS - 1 others below 2^bits whose colour adds at most `price`, least error first (the
 * lower index on a tie); a locked pixel has only its own. The colour of an index is
 * palette[index] (below `entries`), or for `keep` the canvas where flags bit 1 allows it; other
 * indices have none. Errors are squared distances, integers below 2^18: computed in int, they
 * are exactly the doubles (and floats) they were once computed as, and an added error d is
 * within `price` when d <= floor(price). */
static void list_options(Loss *loss, const uint8_t *pixels, size_t count, int bits) {
    int top = 1 << bits, palette_end = loss->entries < top ? loss->entries : top;
    int limit = loss->price >= 1e6 ? 1000000 : (int)loss->price; /* floor: price >= 0 */
    /* The palette sorted by red (counting sort: by index among equal reds), and where each red
     * starts: an entry whose red differs from the pixel's by more than r, r * r > base + limit,
     * adds more than `price`; only the others are measured. */
    int order[256], start[258] = {0};
    uint8_t sorted[3 * 256];
    for (int index = 0; index < palette_end; index++) start[loss->palette[3 * index] + 2]++;
    for (int v = 2; v < 258; v++) start[v] += start[v - 1];
    for (int index = 0; index < palette_end; index++) {
        int at = start[loss->palette[3 * index] + 1]++;
        order[at] = index;
        memcpy(sorted + 3 * at, loss->palette + 3 * index, 3);
    }
    /* now start[v] is where red v starts (start[256]: palette_end) */
    int errors[256];
    uint64_t near[4] = {0, 0, 0, 0}; /* bit index: the palette entry is within `price` */
    int keep = loss->keep >= 0 && loss->keep < top ? loss->keep : -1;
    uint8_t last[3] = {0, 0, 0};
    int last_own = -1, last_base = -1;
    for (size_t p = 0; p < count; p++) {
        uint8_t *option = loss->options + OPTIONS * p;
        float *extra = loss->extras + OPTIONS * p;
        int own = pixels[p], n = 1;
        option[0] = (uint8_t)own, extra[0] = 0.0f;
        const uint8_t *want = loss->rgb + 3 * p;
        int shows_canvas = loss->flags[p] & 2, base;
        if (own == loss->keep)
            base = shows_canvas ? distance(want, loss->canvas + 3 * p) : -1;
        else
            base = own < loss->entries ? distance(want, loss->palette + 3 * own) : -1;
        if (!(loss->flags[p] & 1) && base >= 0) {
            int most = base + limit; /* an error above it adds more than `price` */
            /* the palette's part as for the last pixel that had it, when this one's colour, own
             * index and error are the same (44 % of the pixels of zoom.gif's frames) */
            if (memcmp(want, last, 3) || own != last_own || base != last_base) {
                int reach = (int)sqrt((double)most);
                while ((reach + 1) * (reach + 1) <= most) reach++;
                while (reach * reach > most) reach--;
                int low = want[0] - reach < 0 ? 0 : want[0] - reach;
                int high = want[0] + reach > 255 ? 256 : want[0] + reach + 1;
                near[0] = near[1] = near[2] = near[3] = 0;
                for (int at = start[low]; at < start[high]; at++) {
                    int error = distance(want, sorted + 3 * at), index = order[at];
                    errors[index] = error;
                    if (error <= most) near[index >> 6] |= (uint64_t)1 << (index & 63);
                }
                memcpy(last, want, 3), last_own = own, last_base = base;
            }
            uint64_t hits[4] = {near[0], near[1], near[2], near[3]};
            if (keep >= 0) { /* "keep" shows the canvas, never a palette entry */
                hits[keep >> 6] &= ~((uint64_t)1 << (keep & 63));
                if (shows_canvas) {
                    errors[keep] = distance(want, loss->canvas + 3 * p);
                    if (errors[keep] <= most) hits[keep >> 6] |= (uint64_t)1 << (keep & 63);
                }
            }
            hits[own >> 6] &= ~((uint64_t)1 << (own & 63));
            for (int word = 0; word < 4; word++) /* those within, in index order */
                for (uint64_t w = hits[word]; w; w &= w - 1) {
                    int index = word * 64 + __builtin_ctzll(w);
                    float add = (float)(errors[index] - base);
                    int at = n < OPTIONS ? n++ : OPTIONS;
                    if (at == OPTIONS) { /* full: replace the worst if this one is better */
                        if (!(add < extra[OPTIONS - 1])) continue;
                        at = OPTIONS - 1;
                    }
                    while (at > 1 && extra[at - 1] > add) option[at] = option[at - 1], extra[at] = extra[at - 1], at--;
                    option[at] = (uint8_t)index, extra[at] = add;
                }
        }
        loss->counts[p] = (uint8_t)n;
    }
}

typedef struct {
    unsigned code;
    double error;
    int next; /* the option of pixel p + depth + 1 to try next */
    uint16_t kids[OPTIONS]; /* the code of this string + each option of that pixel, or 0 */
} Step;

/* What search_string found: the string's length in pixels, its code and error, and whether the
 * search visited the string it watched for. */
typedef struct {
    size_t length;
    unsigned code;
    double error;
    int watched;
} Found;

/* The string to code from pixel p, whose index is already chosen (code `root`): of the strings
 * the table holds from `root` whose pixels each take one of their options (list_options), the
 * longest, then the one of least error, counting that of the index that starts the next string:
 * the pixel's own where the table holds no extension of the string by it, else the option of
 * least error it holds none by (so that the exact coder, reading the indices again, ends its
 * string there too). A depth-first search, each pixel's own index first, visiting at most
 * SEARCH_NODES strings once one can end: the exact coder's string is the first it reaches, so the
 * lossy string is never shorter. Writes the indices after the root, and the next root's, to loss->coded[p + 1
 * ...]; returns the string's length in pixels, its code and error through *found, and whether it
 * visited the string `watch` (whether an entry added under it could change the result). */
static void search_string(const Coder *c, Loss *loss, size_t p, size_t count, unsigned root, unsigned watch,
                          Step *stack, uint8_t *path, Found *found) {
    int watched = 0;
    double best_error = 0.0;
    size_t best_length = 0, depth = 0, visited = 0;
    unsigned best_code = root;
    stack[0].code = root, stack[0].error = 0.0, stack[0].next = -1;
    for (;;) {
        Step *at = &stack[depth];
        size_t q = p + depth + 1; /* the pixel after the string */
        if (at->next < 0) {       /* first visit: the string ending here, and its cost */
            at->next = 0;
            visited++;
            watched |= at->code == watch;
            double extra = 0.0;
            int next = -1, valid = 1;
            if (q < count) {
                valid = 0;
                const uint8_t *option = loss->options + OPTIONS * q;
                int options = loss->counts[q];
                for (int i = 0; i < options; i++) at->kids[i] = (uint16_t)child_of(c, at->code, option[i]);
                for (int i = 0; i < options; i++)
                    if (!at->kids[i]) {
                        next = i, extra = loss->extras[OPTIONS * q + i], valid = 1;
                        break;
                    }
            }
            if (valid) {
                double error = at->error + extra;
                if (depth + 1 > best_length || (depth + 1 == best_length && error < best_error)) {
                    best_error = error, best_length = depth + 1, best_code = at->code;
                    memcpy(loss->coded + p + 1, path, depth);
                    if (q < count) loss->coded[q] = loss->options[OPTIONS * q + next];
                }
            }
        }
        int extended = 0;
        /* past SEARCH_NODES only while no string can end yet: the first descent is the exact
         * coder's string, which can always end where it ends (a run of locked pixels longer
         * than SEARCH_NODES would otherwise end nowhere) */
        if (q < count && (visited < SEARCH_NODES || !best_length) && depth + 1 < MAX_CODES) {
            const uint8_t *option = loss->options + OPTIONS * q;
            while (at->next < loss->counts[q]) {
                int i = at->next++;
                unsigned child = at->kids[i];
                if (!child) continue;
                path[depth] = option[i];
                stack[depth + 1].code = child;
                stack[depth + 1].error = at->error + loss->extras[OPTIONS * q + i];
                stack[depth + 1].next = -1;
                depth++;
                extended = 1;
                break;
            }
        }
        if (extended) continue;
        if (!depth) break;
        depth--;
    }
    found->length = best_length, found->code = best_code, found->error = best_error, found->watched = watched;
}

static int finish(Coder *c, Bits *out, unsigned code);

/* The search next_root chose by, kept for the string search from the same pixel and root that
 * follows it: the same unless the entry added in between, or a clear, changes what it reads. */
typedef struct {
    Found found;
    unsigned root;
    uint8_t *coded; /* loss->coded[p + 1 ...] as the search left them */
} Kept;

/* The first index of the string from pixel p, after the string `found`: of the pixel's options
 * by which the table holds no extension of `found` (the exact coder reading the indices again
 * ends its string there too), the one after which the string from p runs longest
 * (search_string), then the one of least error, the string's included; `index`, the option
 * search_string took, is the pixel's own if it qualifies, else the one of least error that does.
 * The chosen option's search goes to *kept (kept->found.length 0: none). */
static unsigned next_root(const Coder *c, Loss *loss, size_t p, size_t count, unsigned found, unsigned index,
                          Step *stack, uint8_t *path, Kept *kept) {
    const uint8_t *option = loss->options + OPTIONS * p;
    const float *extra = loss->extras + OPTIONS * p;
    double was = 0.0, least = 0.0;
    size_t longest = 0;
    int chosen = -1;
    kept->found.length = 0;
    for (int i = 0; i < loss->counts[p]; i++) {
        if (option[i] == index) was = extra[i];
        if (child_of(c, found, option[i])) continue;
        Found from;
        search_string(c, loss, p, count, option[i], found, stack, path, &from);
        double error = (0.0 + from.error) + extra[i];
        if (chosen < 0 || from.length > longest || (from.length == longest && error < least)) {
            chosen = i, longest = from.length, least = error;
            kept->found = from, kept->root = option[i];
            size_t n = count - 1 - p < from.length ? count - 1 - p : from.length;
            memcpy(kept->coded, loss->coded + p + 1, n);
        }
    }
    if (chosen < 0) return index;
    loss->added += extra[chosen] - was;
    loss->coded[p] = option[chosen];
    return option[chosen];
}

static int code_search(Coder *c, Bits *out, const uint8_t *pixels, size_t count, Loss *loss) {
    Step *stack = (Step *)malloc(sizeof(Step) * (MAX_CODES + 1));
    uint8_t *path = (uint8_t *)malloc(MAX_CODES + 1);
    Kept kept = {{0, 0, 0.0, 0}, 0, (uint8_t *)malloc(MAX_CODES + 1)};
    if (!stack || !path || !kept.coded) {
        free(stack), free(path), free(kept.coded);
        return -1;
    }
    put(out, (unsigned)c->clear, c->size);
    loss->coded[0] = pixels[0];
    size_t p = 0;
    unsigned code = pixels[0];
    for (;;) {
        Found found;
        if (kept.found.length && kept.root == code) {
            found = kept.found;
            size_t n = count - 1 - p < found.length ? count - 1 - p : found.length;
            memcpy(loss->coded + p + 1, kept.coded, n);
        } else {
            search_string(c, loss, p, count, code, MAX_CODES, stack, path, &found);
        }
        loss->added += found.error;
        p += found.length;
        if (p >= count) {
            code = found.code;
            break;
        }
        unsigned index = loss->coded[p];
        index = next_root(c, loss, p, count, found.code, index, stack, path, &kept);
        int next = c->next, resets = c->resets;
        emit(c, out, found.code, index, p);
        /* the kept search read no entry made since, and no clear came */
        if (c->resets != resets || (c->next != next && kept.found.watched)) kept.found.length = 0;
        code = index;
    }
    free(stack), free(path), free(kept.coded);
    return finish(c, out, code);
}

/* The last string's code and the end-of-information code. */
static int finish(Coder *c, Bits *out, unsigned code) {
    put(out, code, c->size);
    if (c->next < MAX_CODES) { /* the decoder adds an entry here: the size may grow */
        if (c->next == (1 << c->size) && c->size < 12) c->size++;
    }
    put(out, (unsigned)c->clear + 1, c->size);
    flush(out);
    return out->failed ? -1 : 0;
}

static int code_all(Coder *c, Bits *out, const uint8_t *pixels, size_t count) {
    put(out, (unsigned)c->clear, c->size);
    unsigned code = pixels[0];
    for (size_t p = 1; p < count; p++) {
        unsigned index = pixels[p];
        unsigned next = child_of(c, code, index);
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

/* The exact coder's tables, kept between its calls: a child table with rows for 2^8 indices (any
 * code size's fit, index << 12 | code), all zeros whenever it is here (a call clears the entries
 * it made before giving it back), and parent[] and suffix[], read only where written. Taken and
 * given back while holding the GIL; a call that finds none here (another thread is coding with
 * it) allocates its own. On zoom.gif's frames (bits 6 and 7 in turn) allocating and zeroing the
 * table took 13-17 % of an exact call. The lossy coder allocates a fresh one each call, as
 * before: it was ~4 % slower on the kept one (most of its look-ups find no entry; in fresh
 * pages that are never written they read the one zero page, likely what it gains). */
typedef struct {
    uint16_t child[(size_t)MAX_CODES << 8];
    uint16_t parent[MAX_CODES];
    uint8_t suffix[MAX_CODES];
} Tables;

static Tables *spare = NULL;

/* Code `count` pixels; the data as bytes, or NULL with an exception set. */
static PyObject *run(const uint8_t *pixels, Py_ssize_t count, int bits, int window, Loss *loss) {
    if (check(pixels, count, bits) < 0) return NULL;
    Coder c = {0};
    c.bits = bits, c.clear = 1 << bits, c.window = window, c.best = -1.0;
    c.next = c.clear + 2;
    c.size = bits + 1;
    Tables *tables = NULL;
    if (loss) {
        c.child = (uint16_t *)calloc((size_t)MAX_CODES << bits, sizeof(uint16_t));
        c.parent = (uint16_t *)calloc(MAX_CODES, sizeof(uint16_t));
        c.suffix = (uint8_t *)calloc(MAX_CODES, 1);
    } else {
        tables = spare ? spare : (Tables *)calloc(1, sizeof(Tables));
        spare = NULL;
        if (tables) c.child = tables->child, c.parent = tables->parent, c.suffix = tables->suffix;
    }
    Bits out = {NULL, 0, 0, 0, 0, 0};
    int status = -1;
    if (c.child && c.parent && c.suffix) {
        Py_BEGIN_ALLOW_THREADS;
        status = loss ? code_search(&c, &out, pixels, (size_t)count, loss) : code_all(&c, &out, pixels, (size_t)count);
        if (tables) reset(&c); /* all zeros again */
        Py_END_ALLOW_THREADS;
    }
    if (tables) {
        if (spare)
            free(tables);
        else
            spare = tables;
    } else {
        free(c.child), free(c.parent), free(c.suffix);
    }
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
                 (const uint8_t *)b[4].view.buf, entries, keep, price, (uint8_t *)PyBytes_AS_STRING(coded), 0.0,
                 NULL, NULL, NULL};
    PyObject *data = NULL;
    {
        const uint8_t *indices = (const uint8_t *)b[0].view.buf;
        if (check(indices, count, bits) < 0) {
            Py_DECREF(coded);
            return buffers_done(b, 5, NULL);
        }
        loss.options = (uint8_t *)malloc((size_t)count * OPTIONS);
        loss.extras = (float *)malloc((size_t)count * OPTIONS * sizeof(float));
        loss.counts = (uint8_t *)malloc((size_t)count);
        if (loss.options && loss.extras && loss.counts) {
            Py_BEGIN_ALLOW_THREADS;
            list_options(&loss, indices, (size_t)count, bits);
            Py_END_ALLOW_THREADS;
            data = run(indices, count, bits, window, &loss);
        } else {
            PyErr_NoMemory();
        }
        free(loss.options), free(loss.extras), free(loss.counts);
    }
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
