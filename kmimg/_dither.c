/* kmimg._dither: the error-diffusion kernel of kmimg's dithering (kmimg/dither.py), in C.
 *
 * One function, diffuse(), maps the pixels of an 8-bit RGB image to a palette with serpentine
 * Floyd-Steinberg error diffusion in a working colour space:
 *
 * - SPACE_TABLE: each channel through a 256-entry table (sRGB values, or linear light);
 * - SPACE_LAB: CIELAB (a table to linear light, a 3x3 matrix to XYZ / white, the cube root);
 * - SPACE_LINEAR_LAB: the error is diffused in linear light (the table and matrix give
 *   linear RGB), and the nearest entry is chosen in CIELAB.
 *
 * Per pixel, the diffused error is scaled by the pixel's strength (the dither map, 0-255, times
 * the level), ignored when it is too small to see, clamped so that the target stays near the
 * colour cube (libimagequant's rule: shrink the whole error vector, do not clip channels), and
 * damped when it is large (no lone bright specks). The nearest palette entry is the lowest
 * index among those at the smallest squared distance, found by a pruned exact search over the
 * entries sorted by their projection on their direction of largest spread.
 *
 * kmimg/dither.py holds a pure-Python reference of this loop (reference_diffuse) that the tests
 * compare with it; every product and sum here is in double precision in the same order as
 * there, and the build turns off FMA contraction (setup.py).
 *
 * The loop is serial by nature (each pixel's error depends on all before it), so the result
 * does not depend on the number of threads; the GIL is released while it runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_TABLE 0
#define SPACE_LAB 1
#define SPACE_LINEAR_LAB 2
#define MAX_ENTRIES 256

typedef struct {
    int space;
    const double *table; /* 256 values per byte */
    const double *matrix; /* 3x3, row-major, for the Lab spaces */
} Space;

#define GRID 32
#define CELLS (GRID * GRID * GRID)

typedef struct {
    double work[MAX_ENTRIES][3];   /* entries in the diffusion space */
    double search[MAX_ENTRIES][3]; /* entries in the search space, in sorted order */
    double proj[MAX_ENTRIES];      /* their projections on axis, ascending */
    int order[MAX_ENTRIES];        /* original index of each sorted position */
    double by_index[MAX_ENTRIES][3]; /* entries in the search space, original order */
    double quarter_nn2[MAX_ENTRIES]; /* a quarter of the squared distance to the nearest other */
    double axis[3];
    int m;
    /* A grid over the box of search-space points that the diffusion can produce: for each
     * cell, the entries that can be nearest to some point of it (those whose distance to the
     * cell is at most the smallest distance within which some entry covers the whole cell). */
    double grid_lo[3], grid_step[3], grid_scale[3];
    double axis_near[3][GRID][MAX_ENTRIES], axis_far[3][GRID][MAX_ENTRIES];
    int cell_count[CELLS]; /* -1 until built */
    uint8_t *cell_entries; /* m per cell */
} Palette;

static double lab_f(double t) { return t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0; }

static void linear_to_lab(const double *matrix, const double *lin, double *out) {
    double xyz[3];
    for (int r = 0; r < 3; r++)
        xyz[r] = matrix[3 * r] * lin[0] + matrix[3 * r + 1] * lin[1] + matrix[3 * r + 2] * lin[2];
    double fx = lab_f(xyz[0]), fy = lab_f(xyz[1]), fz = lab_f(xyz[2]);
    out[0] = 116.0 * fy - 16.0;
    out[1] = 500.0 * (fx - fy);
    out[2] = 200.0 * (fy - fz);
}

/* A pixel in the diffusion space. */
static void to_work(const Space *s, const uint8_t *rgb, double *out) {
    double lin[3] = {s->table[rgb[0]], s->table[rgb[1]], s->table[rgb[2]]};
    if (s->space == SPACE_LAB) {
        linear_to_lab(s->matrix, lin, out);
    } else {
        out[0] = lin[0];
        out[1] = lin[1];
        out[2] = lin[2];
    }
}

/* A diffusion-space colour in the search space. */
static void to_search(const Space *s, const double *work, double *out) {
    if (s->space == SPACE_LINEAR_LAB) {
        double lin[3] = {work[0] > 0.0 ? work[0] : 0.0, work[1] > 0.0 ? work[1] : 0.0,
                         work[2] > 0.0 ? work[2] : 0.0};
        linear_to_lab(s->matrix, lin, out);
    } else {
        out[0] = work[0];
        out[1] = work[1];
        out[2] = work[2];
    }
}

static double dist2(const double *a, const double *b) {
    double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return (d0 * d0 + d1 * d1) + d2 * d2;
}

static double dot3(const double *a, const double *b) { return (a[0] * b[0] + a[1] * b[1]) + a[2] * b[2]; }

/* The entries' direction of largest spread, by a fixed number of power iterations. */
static void spread_axis(double rows[][3], int m, double *axis) {
    double mean[3] = {0, 0, 0}, cov[3][3] = {{0}};
    for (int j = 0; j < m; j++)
        for (int d = 0; d < 3; d++) mean[d] += rows[j][d];
    for (int d = 0; d < 3; d++) mean[d] /= (double)m;
    for (int j = 0; j < m; j++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) cov[a][b] += (rows[j][a] - mean[a]) * (rows[j][b] - mean[b]);
    double v[3] = {1.0, 1.01, 1.02};
    for (int iteration = 0; iteration < 30; iteration++) {
        double w[3] = {0, 0, 0};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) w[a] += cov[a][b] * v[b];
        double norm = dot3(w, w);
        if (!(norm > 1e-300)) break;
        norm = sqrt(norm);
        for (int d = 0; d < 3; d++) v[d] = w[d] / norm;
    }
    double norm = sqrt(dot3(v, v));
    for (int d = 0; d < 3; d++) axis[d] = v[d] / norm;
}

typedef struct {
    double key;
    int index;
} Keyed;

static int by_key(const void *a, const void *b) {
    const Keyed *p = (const Keyed *)a, *q = (const Keyed *)b;
    if (p->key < q->key) return -1;
    if (p->key > q->key) return 1;
    return (p->index > q->index) - (p->index < q->index);
}

static int grid_init(Palette *pal, const double *lo, const double *hi) {
    int m = pal->m;
    for (int c = 0; c < 3; c++) {
        pal->grid_lo[c] = lo[c];
        pal->grid_step[c] = (hi[c] - lo[c]) / GRID;
        pal->grid_scale[c] = GRID / (hi[c] - lo[c]);
        for (int g = 0; g < GRID; g++) {
            /* each cell a little larger than its share: cell_of's rounding cannot matter */
            double slack = pal->grid_step[c] * 1e-6;
            double a = pal->grid_lo[c] + pal->grid_step[c] * g - slack, b = a + pal->grid_step[c] + 2 * slack;
            for (int j = 0; j < m; j++) {
                double v = pal->by_index[j][c];
                double out = v < a ? a - v : (v > b ? v - b : 0.0);
                double far = v - a > b - v ? v - a : b - v;
                pal->axis_near[c][g][j] = out * out;
                pal->axis_far[c][g][j] = far * far;
            }
        }
    }
    for (int cell = 0; cell < CELLS; cell++) pal->cell_count[cell] = -1;
    pal->cell_entries = malloc((size_t)CELLS * (size_t)m);
    return pal->cell_entries == NULL ? -1 : 0;
}

/* The entries that can be nearest to some point of a cell, in ascending order: those whose
 * distance to the cell is at most the smallest distance within which one entry covers all of
 * it. Built when the diffusion first reaches the cell. */
static void cell_build(Palette *pal, int cell) {
    int m = pal->m, g[3] = {cell / (GRID * GRID), (cell / GRID) % GRID, cell % GRID}, count = 0;
    double near[MAX_ENTRIES], cover = INFINITY;
    for (int j = 0; j < m; j++) {
        near[j] = (pal->axis_near[0][g[0]][j] + pal->axis_near[1][g[1]][j]) + pal->axis_near[2][g[2]][j];
        double far = (pal->axis_far[0][g[0]][j] + pal->axis_far[1][g[1]][j]) + pal->axis_far[2][g[2]][j];
        if (far < cover) cover = far;
    }
    uint8_t *list = pal->cell_entries + (size_t)cell * (size_t)m;
    for (int j = 0; j < m; j++)
        if (near[j] <= cover * (1.0 + 1e-9) + 1e-9) list[count++] = (uint8_t)j;
    pal->cell_count[cell] = count;
}

/* The grid cell of q, or -1 outside the grid. */
static int cell_of(const Palette *pal, const double *q) {
    int g[3];
    for (int c = 0; c < 3; c++) {
        double t = (q[c] - pal->grid_lo[c]) * pal->grid_scale[c];
        if (!(t >= 0.0 && t < GRID)) return -1;
        g[c] = (int)t;
    }
    return (g[0] * GRID + g[1]) * GRID + g[2];
}

static void palette_init(const Space *s, const uint8_t *rgb, int m, Palette *pal) {
    double search[MAX_ENTRIES][3];
    Keyed keyed[MAX_ENTRIES];
    pal->m = m;
    for (int j = 0; j < m; j++) {
        to_work(s, rgb + 3 * j, pal->work[j]);
        to_search(s, pal->work[j], search[j]);
    }
    spread_axis(search, m, pal->axis);
    for (int j = 0; j < m; j++) {
        keyed[j].key = dot3(search[j], pal->axis);
        keyed[j].index = j;
    }
    qsort(keyed, (size_t)m, sizeof(Keyed), by_key);
    for (int p = 0; p < m; p++) {
        pal->order[p] = keyed[p].index;
        pal->proj[p] = keyed[p].key;
        memcpy(pal->search[p], search[keyed[p].index], sizeof(search[0]));
    }
    memcpy(pal->by_index, search, sizeof(search[0]) * (size_t)m);
    for (int j = 0; j < m; j++) {
        double nn = INFINITY;
        for (int i = 0; i < m; i++)
            if (i != j && dist2(search[i], search[j]) < nn) nn = dist2(search[i], search[j]);
        pal->quarter_nn2[j] = nn * 0.25;
    }
}

/* Lowest index among the entries nearest to q (search space). A unit axis projection never
 * exceeds the distance, so a side stops once its gap alone exceeds the best distance (with a
 * relative margin far above the rounding of the projections). */
static int nearest(Palette *pal, const double *q, int guess) {
    int cell = cell_of(pal, q);
    if (cell >= 0) {
        if (pal->cell_count[cell] < 0) cell_build(pal, cell);
        const uint8_t *list = pal->cell_entries + (size_t)cell * (size_t)pal->m;
        double best = INFINITY;
        int best_index = 0;
        for (int p = 0; p < pal->cell_count[cell]; p++) {
            int j = list[p];
            double d = dist2(pal->by_index[j], q);
            if (d < best) best = d, best_index = j; /* ascending indices: the first of equals */
        }
        return best_index;
    }
    double best = dist2(pal->by_index[guess], q);
    /* Nearer than half the distance to its nearest neighbour: no other entry can be as near. */
    if (best * (1.0 + 1e-9) + 1e-12 < pal->quarter_nn2[guess]) return guess;
    int best_index = guess;
    double key = dot3(q, pal->axis);
    int lo = 0, hi = pal->m;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (pal->proj[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    int up = lo, down = lo - 1;
    while (up < pal->m || down >= 0) {
        if (up < pal->m) {
            double gap = pal->proj[up] - key;
            if (gap * gap > best * (1.0 + 1e-9) + 1e-9) {
                up = pal->m;
            } else {
                double d = dist2(pal->search[up], q);
                int index = pal->order[up];
                if (d < best || (d == best && index < best_index)) best = d, best_index = index;
                up++;
            }
        }
        if (down >= 0) {
            double gap = key - pal->proj[down];
            if (gap * gap > best * (1.0 + 1e-9) + 1e-9) {
                down = -1;
            } else {
                double d = dist2(pal->search[down], q);
                int index = pal->order[down];
                if (d < best || (d == best && index < best_index)) best = d, best_index = index;
                down--;
            }
        }
    }
    return best_index;
}

typedef struct {
    double strength; /* level factor times 1/255 (the map's scale) */
    double min_err2; /* below: no dithering */
    double max_err2; /* above: damping */
    double lo[3], hi[3];
} Rules;

/* The pixel plus its share of the diffused error, clamped and damped (libimagequant's rules). */
static void dithered_target(const Rules *r, double strength, const double *px, const double *err,
                            double *out) {
    double s[3] = {err[0] * strength, err[1] * strength, err[2] * strength};
    double e2 = (s[0] * s[0] + s[1] * s[1]) + s[2] * s[2];
    if (e2 < r->min_err2) {
        out[0] = px[0], out[1] = px[1], out[2] = px[2];
        return;
    }
    double ratio = 1.0;
    for (int c = 0; c < 3; c++) {
        double v = px[c] + s[c];
        if (v > r->hi[c]) {
            double q = (r->hi[c] - px[c]) / s[c];
            if (q < ratio) ratio = q;
        } else if (v < r->lo[c]) {
            double q = (r->lo[c] - px[c]) / s[c];
            if (q < ratio) ratio = q;
        }
    }
    if (ratio < 0.0) ratio = 0.0;
    if (e2 > r->max_err2) ratio *= 0.8;
    for (int c = 0; c < 3; c++) out[c] = px[c] + s[c] * ratio;
}

typedef struct {
    const uint8_t *rgb, *map, *keep, *ids;
    uint8_t *out;
    Py_ssize_t width, height;
} Image;

static void diffuse_rows(const Space *s, Palette *pal, const Rules *r, const Image *im, double *err) {
    Py_ssize_t w = im->width, ew = w + 2;
    double *this_row = err, *next_row = err + 3 * ew;
    int forward = 1, last = 0;
    for (Py_ssize_t y = 0; y < im->height; y++) {
        memset(next_row, 0, sizeof(double) * 3 * (size_t)ew);
        for (Py_ssize_t step = 0; step < w; step++) {
            Py_ssize_t x = forward ? step : w - 1 - step;
            Py_ssize_t i = y * w + x;
            double *here = this_row + 3 * (x + 1);
            if (im->keep != NULL && im->keep[i]) continue; /* not opaque: plain index, no error */
            double px[3], target[3], q[3], e[3];
            to_work(s, im->rgb + 3 * i, px);
            dithered_target(r, r->strength * (double)im->map[i], px, here, target);
            to_search(s, target, q);
            int j = nearest(pal, q, last);
            last = j;
            im->out[i] = im->ids[j];
            for (int c = 0; c < 3; c++) e[c] = target[c] - pal->work[j][c];
            if ((e[0] * e[0] + e[1] * e[1]) + e[2] * e[2] > r->max_err2)
                for (int c = 0; c < 3; c++) e[c] *= 0.75;
            double *ahead = forward ? here + 3 : here - 3;
            double *below = next_row + 3 * (x + 1);
            double *below_ahead = forward ? below + 3 : below - 3, *below_behind = forward ? below - 3 : below + 3;
            for (int c = 0; c < 3; c++) {
                ahead[c] += e[c] * (7.0 / 16.0);
                below_ahead[c] += e[c] * (1.0 / 16.0);
                below[c] += e[c] * (5.0 / 16.0);
                below_behind[c] += e[c] * (3.0 / 16.0);
            }
        }
        double *swap = this_row;
        this_row = next_row;
        next_row = swap;
        forward = !forward;
    }
}

typedef struct {
    Py_buffer rgb, map, keep, palette, ids, table, matrix, out;
} Buffers;

static void release(Buffers *b) {
    Py_buffer *all[] = {&b->rgb, &b->map, &b->keep, &b->palette, &b->ids, &b->table, &b->matrix, &b->out};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i]->obj != NULL) PyBuffer_Release(all[i]);
}

static int too_small(const Py_buffer *b, Py_ssize_t need, const char *name) {
    if (b->len < need) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, need %zd", name, b->len, need);
        return 1;
    }
    return 0;
}

static int check(const Buffers *b, Py_ssize_t n, Py_ssize_t m, int has_keep) {
    return too_small(&b->rgb, 3 * n, "rgb") || too_small(&b->map, n, "map") ||
           (has_keep && too_small(&b->keep, n, "keep")) || too_small(&b->palette, 3 * m, "palette") ||
           too_small(&b->ids, m, "ids") || too_small(&b->table, 256 * (Py_ssize_t)sizeof(double), "table") ||
           too_small(&b->matrix, 9 * (Py_ssize_t)sizeof(double), "matrix") || too_small(&b->out, n, "out");
}

/* diffuse(rgb, map, keep, width, height, palette, ids, m, table, matrix, space, strength,
 *         min_err2, max_err2, (lo0, lo1, lo2), (hi0, hi1, hi2), out); keep may be None. */
static PyObject *diffuse(PyObject *self, PyObject *args) {
    (void)self;
    Buffers b;
    memset(&b, 0, sizeof(b));
    PyObject *keep_obj;
    Py_ssize_t width, height;
    int m, space;
    Rules r;
    if (!PyArg_ParseTuple(args, "y*y*Onny*y*iy*y*iddd(ddd)(ddd)w*:diffuse", &b.rgb, &b.map, &keep_obj, &width,
                          &height, &b.palette, &b.ids, &m, &b.table, &b.matrix, &space, &r.strength,
                          &r.min_err2, &r.max_err2, &r.lo[0], &r.lo[1], &r.lo[2], &r.hi[0], &r.hi[1], &r.hi[2],
                          &b.out))
        goto fail;
    int has_keep = keep_obj != Py_None;
    if (has_keep && PyObject_GetBuffer(keep_obj, &b.keep, PyBUF_SIMPLE) < 0) goto fail;
    if (width < 1 || height < 1 || m < 1 || m > MAX_ENTRIES || space < SPACE_TABLE || space > SPACE_LINEAR_LAB) {
        PyErr_SetString(PyExc_ValueError, "diffuse: bad size, palette length or space");
        goto fail;
    }
    if (check(&b, width * height, m, has_keep)) goto fail;
    double *err = calloc((size_t)(6 * (width + 2)), sizeof(double));
    Palette *pal = malloc(sizeof(Palette));
    if (err == NULL || pal == NULL) {
        free(err);
        free(pal);
        PyErr_NoMemory();
        goto fail;
    }
    Space s = {space, (const double *)b.table.buf, (const double *)b.matrix.buf};
    Image im = {(const uint8_t *)b.rgb.buf, (const uint8_t *)b.map.buf,
                has_keep ? (const uint8_t *)b.keep.buf : NULL, (const uint8_t *)b.ids.buf,
                (uint8_t *)b.out.buf, width, height};
    static const double lab_lo[3] = {-10.0, -150.0, -150.0}, lab_hi[3] = {110.0, 150.0, 150.0};
    int grid = 0;
    Py_BEGIN_ALLOW_THREADS
    palette_init(&s, (const uint8_t *)b.palette.buf, m, pal);
    grid = grid_init(pal, space == SPACE_LINEAR_LAB ? lab_lo : r.lo, space == SPACE_LINEAR_LAB ? lab_hi : r.hi);
    if (grid == 0) diffuse_rows(&s, pal, &r, &im, err);
    Py_END_ALLOW_THREADS
    free(pal->cell_entries);
    free(err);
    free(pal);
    if (grid != 0) {
        release(&b);
        return PyErr_NoMemory();
    }
    release(&b);
    Py_RETURN_NONE;
fail:
    release(&b);
    return NULL;
}

/* ------------------------------------------------------------------------- dither map */
/* The same integer filters as reference_dither_map in kmimg/dither.py (see there). */

static int iabs(int v) { return v < 0 ? -v : v; }

static void contrast(const uint8_t *rgb, Py_ssize_t w, Py_ssize_t h, uint8_t *noise, uint8_t *edges) {
    for (Py_ssize_t y = 0; y < h; y++) {
        const uint8_t *row = rgb + 3 * w * y;
        const uint8_t *up = rgb + 3 * w * (y > 0 ? y - 1 : 0), *down = rgb + 3 * w * (y + 1 < h ? y + 1 : y);
        for (Py_ssize_t x = 0; x < w; x++) {
            Py_ssize_t l = x > 0 ? x - 1 : 0, r = x + 1 < w ? x + 1 : x;
            int hz = 0, vt = 0;
            for (int c = 0; c < 3; c++) {
                int v2 = 2 * row[3 * x + c];
                int a = iabs(row[3 * l + c] + row[3 * r + c] - v2), b = iabs(up[3 * x + c] + down[3 * x + c] - v2);
                if (a > hz) hz = a;
                if (b > vt) vt = b;
            }
            int edge = hz > vt ? hz : vt;
            double fh = (double)hz / 255.0, fv = (double)vt / 255.0, fe = (double)edge / 255.0;
            double d = fh - fv, lo = fh < fv ? fh : fv;
            double t = fe - (d < 0 ? -d : d) * 0.5;
            double z = 1.0 - (t > lo ? t : lo);
            if (z < 0.0) z = 0.0;
            z = (z * z) * (z * z);
            noise[w * y + x] = (uint8_t)(80.0 + z * 175.0);
            edges[w * y + x] = (uint8_t)(edge < 255 ? 255 - edge : 0);
        }
    }
}

/* dst = max (or min) of each value and its four neighbours (edges replicated). */
#define CROSS(NAME, PICK)                                                                          \
    static void NAME(const uint8_t *src, uint8_t *dst, Py_ssize_t w, Py_ssize_t h) {               \
        for (Py_ssize_t y = 0; y < h; y++) {                                                       \
            const uint8_t *row = src + w * y, *up = src + w * (y > 0 ? y - 1 : 0),                 \
                          *down = src + w * (y + 1 < h ? y + 1 : y);                               \
            uint8_t *out = dst + w * y;                                                            \
            for (Py_ssize_t x = 0; x < w; x++) {                                                   \
                uint8_t l = row[x > 0 ? x - 1 : 0], r = row[x + 1 < w ? x + 1 : x];                \
                uint8_t a = PICK(l, r), b = PICK(up[x], down[x]), c = PICK(a, b);                  \
                out[x] = PICK(c, row[x]);                                                          \
            }                                                                                      \
        }                                                                                          \
    }
#define PICK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PICK_MIN(a, b) ((a) < (b) ? (a) : (b))
CROSS(cross_max, PICK_MAX)
CROSS(cross_min, PICK_MIN)

/* Box mean (rounded down) over 7 values along the rows into tmp, then along the columns
 * (running sums; edges replicated). */
static void box_blur3(uint8_t *a, uint8_t *tmp, Py_ssize_t w, Py_ssize_t h) {
    for (Py_ssize_t y = 0; y < h; y++) {
        const uint8_t *row = a + w * y;
        int total = 0;
        for (Py_ssize_t d = -3; d <= 3; d++) total += row[d < 0 ? 0 : (d >= w ? w - 1 : d)];
        for (Py_ssize_t x = 0; x < w; x++) {
            tmp[w * y + x] = (uint8_t)(total / 7);
            Py_ssize_t gone = x - 3, next = x + 4;
            total += row[next >= w ? w - 1 : next] - row[gone < 0 ? 0 : gone];
        }
    }
    int *sums = calloc((size_t)w, sizeof(int));
    if (sums == NULL) { /* cannot happen for sane sizes; fall back to the direct sums */
        for (Py_ssize_t y = 0; y < h; y++)
            for (Py_ssize_t x = 0; x < w; x++) {
                int total = 0;
                for (Py_ssize_t d = -3; d <= 3; d++) {
                    Py_ssize_t i = y + d;
                    total += tmp[w * (i < 0 ? 0 : (i >= h ? h - 1 : i)) + x];
                }
                a[w * y + x] = (uint8_t)(total / 7);
            }
        return;
    }
    for (Py_ssize_t d = -3; d <= 3; d++) {
        const uint8_t *row = tmp + w * (d < 0 ? 0 : (d >= h ? h - 1 : d));
        for (Py_ssize_t x = 0; x < w; x++) sums[x] += row[x];
    }
    for (Py_ssize_t y = 0; y < h; y++) {
        Py_ssize_t gone = y - 3, next = y + 4;
        const uint8_t *out_row = tmp + w * (gone < 0 ? 0 : gone), *in_row = tmp + w * (next >= h ? h - 1 : next);
        for (Py_ssize_t x = 0; x < w; x++) {
            a[w * y + x] = (uint8_t)(sums[x] / 7);
            sums[x] += in_row[x] - out_row[x];
        }
    }
    free(sums);
}

/* out = (min(noise, edges) + 128) * 255 / 383 * run factor of the plain indices. */
static void apply_runs(const uint8_t *plain, const uint8_t *flat, Py_ssize_t w, Py_ssize_t h, uint8_t *out) {
    for (Py_ssize_t y = 0; y < h; y++) {
        const uint8_t *row = plain + w * y;
        Py_ssize_t start = 0;
        while (start < w) {
            Py_ssize_t end = start + 1;
            while (end < w && row[end] == row[start]) end++;
            int64_t vertical = 0;
            for (Py_ssize_t x = start; x < end; x++) {
                if (y > 0 && plain[w * (y - 1) + x] == row[x]) vertical++;
                if (y + 1 < h && plain[w * (y + 1) + x] == row[x]) vertical++;
            }
            double score = (double)(10 * (int64_t)(end - start) + 15 * vertical);
            double factor = 1.0 - 20.0 / (20.0 + score);
            for (Py_ssize_t x = start; x < end; x++)
                out[w * y + x] = (uint8_t)(((double)flat[w * y + x] + 128.0) * (255.0 / 383.0) * factor);
            start = end;
        }
    }
}

static void build_map(const uint8_t *rgb, const uint8_t *plain, Py_ssize_t w, Py_ssize_t h, uint8_t *out,
                      uint8_t *noise, uint8_t *edges) {
    uint8_t *tmp = out; /* out is scratch until the last step */
    contrast(rgb, w, h, noise, edges);
    cross_max(noise, tmp, w, h);
    cross_max(tmp, noise, w, h);
    box_blur3(noise, tmp, w, h);
    cross_max(noise, tmp, w, h);
    cross_min(tmp, noise, w, h);
    cross_min(noise, tmp, w, h);
    cross_min(tmp, noise, w, h);
    cross_min(edges, tmp, w, h);
    cross_max(tmp, edges, w, h);
    for (Py_ssize_t i = 0; i < w * h; i++) noise[i] = noise[i] < edges[i] ? noise[i] : edges[i];
    apply_runs(plain, noise, w, h, out);
}

/* dither_map(rgb, plain, width, height, out) */
static PyObject *dither_map(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer rgb = {0}, plain = {0}, out = {0};
    Py_ssize_t w, h;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*nnw*:dither_map", &rgb, &plain, &w, &h, &out)) return NULL;
    if (w < 1 || h < 1 || too_small(&rgb, 3 * w * h, "rgb") || too_small(&plain, w * h, "plain") ||
        too_small(&out, w * h, "out")) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "dither_map: bad size");
        goto done;
    }
    uint8_t *scratch = malloc((size_t)(2 * w * h));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    build_map((const uint8_t *)rgb.buf, (const uint8_t *)plain.buf, w, h, (uint8_t *)out.buf, scratch,
              scratch + w * h);
    Py_END_ALLOW_THREADS
    free(scratch);
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&rgb);
    PyBuffer_Release(&plain);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"diffuse", diffuse, METH_VARARGS, "Serpentine error diffusion of an RGB image to a palette."},
    {"dither_map", dither_map, METH_VARARGS, "Strength of the diffusion per pixel (0-255)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dither", "kmimg's error-diffusion kernel.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__dither(void) { return PyModule_Create(&module); }
