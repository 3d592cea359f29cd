/* kmimg._engine: the occupied cells of a regular grid over the points (grid_cells()), which
 * kmimg/colorfit.py merges the fit's sample into.
 */
#include "_engine.h"

/* Sorts keys[0..count) (non-negative, below 2**bits) ascending, carrying idx along: an LSD
 * radix sort by 11-bit digits (stable); tmp_key and tmp_idx are scratch of the same size. */
static void radix_sort(int64_t *keys, int64_t *idx, int64_t *tmp_key, int64_t *tmp_idx, Py_ssize_t count, int bits) {
    size_t counts[2048];
    for (int shift = 0; shift < bits; shift += 11) {
        memset(counts, 0, sizeof(counts));
        for (Py_ssize_t j = 0; j < count; j++) counts[((uint64_t)keys[j] >> shift) & 2047]++;
        size_t at = 0;
        for (int digit = 0; digit < 2048; digit++) {
            size_t here = counts[digit];
            counts[digit] = at;
            at += here;
        }
        for (Py_ssize_t j = 0; j < count; j++) {
            size_t to = counts[((uint64_t)keys[j] >> shift) & 2047]++;
            tmp_key[to] = keys[j];
            tmp_idx[to] = idx[j];
        }
        int64_t *swap = keys;
        memcpy(keys, tmp_key, sizeof(int64_t) * (size_t)count);
        memcpy(idx, tmp_idx, sizeof(int64_t) * (size_t)count);
        (void)swap;
    }
}

/* grid_cells() below, for a caller in C too (_engine_small.c): the count, or -1 when out of
 * memory. */
Py_ssize_t grid_cells_of(const double *f, Py_ssize_t n, int dim, Py_ssize_t grid, int64_t *out) {
    double limit = 1.0;
    for (int d = 0; d < dim; d++) limit *= (double)grid;
    size_t size = 16;
    while (size < 2 * (size_t)n) size <<= 1;
    int64_t *table = (int64_t *)malloc(sizeof(int64_t) * size); /* key + 1, 0: empty */
    int64_t *slot_of = (int64_t *)malloc(sizeof(int64_t) * size); /* per slot: its distinct key's number */
    int64_t *keys = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);    /* the distinct keys, then sorted */
    int64_t *idx = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);     /* their numbers, then ranks */
    int64_t *tmp_key = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);
    int64_t *tmp_idx = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);
    Py_ssize_t count = 0;
    int failed = !table || !slot_of || !keys || !idx || !tmp_key || !tmp_idx;
    if (!failed) {
        double low[MAX_DIM], scale[MAX_DIM];
        for (int d = 0; d < dim; d++) {
            double lo = f[d], hi = f[d];
            for (Py_ssize_t i = 1; i < n; i++) {
                double v = f[(size_t)i * (size_t)dim + (size_t)d];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            double span = hi - lo;
            low[d] = lo;
            scale[d] = (double)grid / (span > 1e-9 ? span : 1e-9);
        }
        memset(table, 0, sizeof(int64_t) * size);
        const unsigned shift = (unsigned)(64 - __builtin_ctzll((unsigned long long)size));
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t key = 0;
            for (int d = 0; d < dim; d++) {
                int64_t cell = (int64_t)((f[(size_t)i * (size_t)dim + (size_t)d] - low[d]) * scale[d]);
                key = key * grid + (cell < grid - 1 ? cell : grid - 1);
            }
            size_t slot = (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> shift);
            while (table[slot] && table[slot] != key + 1) slot = (slot + 1) & (size - 1);
            if (!table[slot]) {
                table[slot] = key + 1;
                slot_of[slot] = count;
                keys[count] = key;
                idx[count] = count;
                count++;
            }
            out[i] = (int64_t)slot;
        }
        int bits = 1;
        while (bits < 63 && (double)((int64_t)1 << bits) < limit) bits++;
        radix_sort(keys, idx, tmp_key, tmp_idx, count, bits);
        for (Py_ssize_t r = 0; r < count; r++) tmp_idx[idx[r]] = r; /* the rank of each distinct key */
        for (Py_ssize_t i = 0; i < n; i++) out[i] = tmp_idx[slot_of[out[i]]];
    }
    free(table);
    free(slot_of);
    free(keys);
    free(idx);
    free(tmp_key);
    free(tmp_idx);
    return failed ? -1 : count;
}

/* grid_cells(features, n, dim, grid, inverse) -> count
 * The occupied cells of a regular grid over the points' bounding box, as numpy computes them:
 * per axis low = min, span = max(max - low, 1e-9), cell = min(int64((x - low) * (grid / span)),
 * grid - 1), key = (cell_0 * grid + cell_1) * grid + ...; inverse[i] receives the rank of point
 * i's key among the distinct keys in ascending order (np.unique's return_inverse), and the
 * number of distinct keys is returned. An open-addressing hash table finds the distinct keys in
 * O(n) (numpy sorts all n keys), and only those are sorted (radix). grid**dim must fit in 62 bits. */
PyObject *py_grid_cells(PyObject *self, PyObject *args) {
    PyObject *features, *inverse;
    Py_ssize_t n, grid;
    int dim;
    if (!PyArg_ParseTuple(args, "OninO", &features, &n, &dim, &grid, &inverse)) return NULL;
    double limit = 1.0;
    for (int d = 0; d < dim && dim >= 1 && dim <= MAX_DIM; d++) limit *= (double)grid;
    if (dim < 1 || dim > MAX_DIM || n < 1 || grid < 1 || !(limit < 4.6e18)) {
        PyErr_SetString(PyExc_ValueError, "grid_cells: bad shape");
        return NULL;
    }
    Buf b[2] = {{0}};
    if (buffer_get(features, &b[0], 0, 8 * dim, n, "features") < 0 || buffer_get(inverse, &b[1], 1, 8, n, "inverse") < 0)
        return buffers_done(b, 2, NULL);
    const double *f = (const double *)b[0].view.buf;
    int64_t *out = (int64_t *)b[1].view.buf;
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = grid_cells_of(f, n, dim, grid, out);
    Py_END_ALLOW_THREADS
    return buffers_done(b, 2, count < 0 ? PyErr_NoMemory() : PyLong_FromSsize_t(count));
}

/* Radix digits of key_runs(): 12 bits (a 24-bit RGB key in two passes, 32-bit RGBA in three). */
#define RUN_DIGIT 12
#define RUN_BUCKETS (1 << RUN_DIGIT)
#define RUN_PASSES ((32 + RUN_DIGIT - 1) / RUN_DIGIT)

/* Sorts the pairs (key << 32 | index) of keys[0..n) by key, stably (LSD radix by RUN_DIGIT-bit
 * digits of the low `bits` bits), into `out`; `other` is scratch of the same size (the passes
 * alternate between the two so that the last one writes to `out`). 0, or -1 when out of memory. */
static int sort_pairs(const uint32_t *keys, Py_ssize_t n, int bits, uint64_t *out, uint64_t *other) {
    const int passes = (bits + RUN_DIGIT - 1) / RUN_DIGIT;
    uint32_t (*counts)[RUN_BUCKETS] = calloc(RUN_PASSES, sizeof(*counts));
    if (!counts) return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        for (int p = 0; p < passes; p++) counts[p][(keys[i] >> (p * RUN_DIGIT)) & (RUN_BUCKETS - 1)]++;
    for (int p = 0; p < passes; p++) {
        uint32_t at = 0;
        for (int digit = 0; digit < RUN_BUCKETS; digit++) {
            uint32_t here = counts[p][digit];
            counts[p][digit] = at;
            at += here;
        }
    }
    uint64_t *to = passes % 2 ? out : other;
    for (Py_ssize_t i = 0; i < n; i++)
        to[counts[0][keys[i] & (RUN_BUCKETS - 1)]++] = (uint64_t)keys[i] << 32 | (uint64_t)i;
    for (int p = 1; p < passes; p++) {
        const uint64_t *from = to;
        to = to == out ? other : out;
        const int shift = 32 + p * RUN_DIGIT;
        for (Py_ssize_t i = 0; i < n; i++) to[counts[p][(from[i] >> shift) & (RUN_BUCKETS - 1)]++] = from[i];
    }
    free(counts);
    return 0;
}

/* key_runs(keys, n, bits, unique, counts, inverse) -> count
 * The distinct values of keys uint32 (n,) (each below 2**bits, 1 <= bits <= 32; n < 2**32) in
 * ascending order into unique uint32 (n,), how many times each occurs into counts int64 (n,)
 * (the first `count` entries of both are written), and each key's rank among them into inverse
 * int64 (n,): np.unique(keys, return_counts=True, return_inverse=True), by a radix sort of
 * (key, index) pairs instead of numpy's comparison sort and argsort. inverse is the sort's
 * scratch until the end. */
PyObject *py_key_runs(PyObject *self, PyObject *args) {
    PyObject *keys, *unique, *counts, *inverse;
    Py_ssize_t n;
    int bits;
    if (!PyArg_ParseTuple(args, "OniOOO", &keys, &n, &bits, &unique, &counts, &inverse)) return NULL;
    if (n < 1 || (uint64_t)n >= ((uint64_t)1 << 32) || bits < 1 || bits > 32) {
        PyErr_SetString(PyExc_ValueError, "key_runs: bad shape");
        return NULL;
    }
    Buf b[4] = {{0}};
    if (buffer_get(keys, &b[0], 0, 4, n, "keys") < 0 || buffer_get(unique, &b[1], 1, 4, n, "unique") < 0 ||
        buffer_get(counts, &b[2], 1, 8, n, "counts") < 0 || buffer_get(inverse, &b[3], 1, 8, n, "inverse") < 0)
        return buffers_done(b, 4, NULL);
    const uint32_t *k = (const uint32_t *)b[0].view.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (bits < 32 && k[i] >> bits) {
            PyErr_SetString(PyExc_ValueError, "key_runs: a key has more bits than given");
            return buffers_done(b, 4, NULL);
        }
    uint32_t *u = (uint32_t *)b[1].view.buf;
    int64_t *c = (int64_t *)b[2].view.buf, *inv = (int64_t *)b[3].view.buf;
    uint64_t *sorted = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)n);
    Py_ssize_t count = 0;
    int failed = !sorted;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        failed = sort_pairs(k, n, bits, sorted, (uint64_t *)inv) < 0;
        for (Py_ssize_t j = 0; !failed && j < n; j++) {
            uint32_t key = (uint32_t)(sorted[j] >> 32);
            if (!count || key != u[count - 1]) {
                u[count] = key;
                c[count++] = 0;
            }
            c[count - 1]++;
            inv[sorted[j] & 0xFFFFFFFFu] = count - 1;
        }
        Py_END_ALLOW_THREADS
    }
    free(sorted);
    return buffers_done(b, 4, failed ? PyErr_NoMemory() : PyLong_FromSsize_t(count));
}
