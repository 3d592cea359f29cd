/* kmimg._engine: the fit's random numbers (uniforms()) and its pixel sample (multinomial()).
 */
#include "_engine.h"

/* The fit's random numbers: SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014), a Weyl sequence through a 64-bit finaliser. Each
 * (seed, stream) pair starts the sequence at its own point; numbers are integers, so a seed
 * gives the same numbers on every machine and compiler. */
static inline uint64_t splitmix_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t stream_start(uint64_t seed, uint64_t stream) {
    uint64_t mix = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    return splitmix_next(&mix);
}

/* The high 64 bits of a * b: floor(a * b / 2**64), i.e. a uniform 64-bit integer a scaled to
 * [0, b) (Lemire 2019; the bias is below b / 2**64). */
static inline uint64_t mul_high(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__)
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
#else
    uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
    uint64_t cross = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    return (hi_lo >> 32) + (cross >> 32) + hi_hi;
#endif
}

/* uniforms(seed, stream, out, count): out float64 (count,) receives uniform numbers in [0, 1),
 * multiples of 2**-53. */
PyObject *py_uniforms(PyObject *self, PyObject *args) {
    unsigned long long seed, stream;
    PyObject *out;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "KKOn", &seed, &stream, &out, &count)) return NULL;
    Buf b[1] = {{0}};
    if (count < 0 || buffer_get(out, &b[0], 1, 8, count, "out") < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "uniforms: negative count");
        return buffers_done(b, 1, NULL);
    }
    double *o = (double *)b[0].view.buf;
    uint64_t state = stream_start(seed, stream);
    for (Py_ssize_t i = 0; i < count; i++) o[i] = (double)(splitmix_next(&state) >> 11) * 0x1.0p-53;
    return buffers_done(b, 1, Py_NewRef(Py_None));
}

/* uniforms() for a caller in C: out (count,) receives the same numbers. */
void fill_uniforms(uint64_t seed, uint64_t stream, double *out, Py_ssize_t count) {
    uint64_t state = stream_start(seed, stream);
    for (Py_ssize_t i = 0; i < count; i++) out[i] = (double)(splitmix_next(&state) >> 11) * 0x1.0p-53;
}

/* multinomial(counts, n, draws, seed, stream, out): draws pixels with replacement from a
 * histogram of n colours (counts int64 (n,), every pixel equally likely) and writes to out
 * int64 (n,) how many draws fell on each colour: a multinomial sample, in O(n + draws).
 *
 * Pixel p (0 <= p < total) belongs to the colour i with cum[i - 1] <= p < cum[i] (cum: the
 * running sums of counts). Each draw is a uniform pixel; its colour is found from a table of
 * the first colour of each block of 2**shift pixels (blocks of about total / n pixels, so the
 * walk from there takes a step or two on average). Integer arithmetic throughout. */
PyObject *py_multinomial(PyObject *self, PyObject *args) {
    PyObject *counts, *out;
    Py_ssize_t n, draws;
    unsigned long long seed, stream;
    if (!PyArg_ParseTuple(args, "OnnKKO", &counts, &n, &draws, &seed, &stream, &out)) return NULL;
    if (n < 1 || draws < 0) {
        PyErr_SetString(PyExc_ValueError, "multinomial: bad shape");
        return NULL;
    }
    Buf b[2] = {{0}};
    if (buffer_get(counts, &b[0], 0, 8, n, "counts") < 0 || buffer_get(out, &b[1], 1, 8, n, "out") < 0) return buffers_done(b, 2, NULL);
    const int64_t *c = (const int64_t *)b[0].view.buf;
    int64_t *o = (int64_t *)b[1].view.buf;
    uint64_t total = 0;
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (c[i] < 0) bad = 1;
        total += (uint64_t)c[i];
    }
    if (bad || total == 0 || total >= (1ULL << 62)) {
        PyErr_SetString(PyExc_ValueError, "multinomial: counts must be non-negative with a positive sum");
        return buffers_done(b, 2, NULL);
    }
    int shift = 0;
    while ((total >> shift) > (uint64_t)n) shift++;
    Py_ssize_t blocks = (Py_ssize_t)(total >> shift) + 1;
    uint64_t *cum = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)n);
    int64_t *first = (int64_t *)malloc(sizeof(int64_t) * (size_t)blocks);
    if (!cum || !first) {
        free(cum);
        free(first);
        return buffers_done(b, 2, PyErr_NoMemory());
    }
    Py_BEGIN_ALLOW_THREADS
    uint64_t run = 0;
    for (Py_ssize_t i = 0; i < n; i++) cum[i] = (run += (uint64_t)c[i]);
    Py_ssize_t at = 0;
    for (Py_ssize_t block = 0; block < blocks; block++) {
        uint64_t start = (uint64_t)block << shift;
        while (at < n - 1 && cum[at] <= start) at++;
        first[block] = at;
    }
    memset(o, 0, sizeof(int64_t) * (size_t)n);
    uint64_t state = stream_start(seed, stream);
    for (Py_ssize_t j = 0; j < draws; j++) {
        uint64_t pixel = mul_high(splitmix_next(&state), total);
        int64_t i = first[pixel >> shift];
        while (cum[i] <= pixel) i++;
        o[i]++;
    }
    Py_END_ALLOW_THREADS
    free(cum);
    free(first);
    return buffers_done(b, 2, Py_NewRef(Py_None));
}
