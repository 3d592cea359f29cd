/* kmimg._engine: the inner loops of kmimg's k-means engine (kmimg/cluster.py), in C.
 *
 * Every function here computes exactly what the numpy code it replaces computed, in the same
 * floating-point order, so that palettes and output bytes do not depend on whether a loop runs
 * in numpy or here:
 *
 * - squared distances are summed in float32 as ((d0*d0 + d1*d1) + d2*d2) + d3*d3, each term
 *   rounded to float32 (the build turns off FMA contraction: see setup.py);
 * - the nearest centre is the lowest index among those at the smallest distance, and the
 *   runner-up is the second smallest distance of the multiset (equal to the best on a tie);
 * - weighted sums run over the points in index order in float64, as numpy.bincount does.
 *
 * The functions take contiguous buffers (numpy arrays, checked by the Python side), release the
 * GIL while they run, and write disjoint slices, so that Python threads may run them on
 * separate ranges of points without changing any result.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#define MAX_DIM 8
#define MAX_THREADS 16

/* fn(items + v * size) for v in [0, count): item 0 on the calling thread, the others on threads
 * of their own (inline when no thread can be had). The items must be independent: the result is
 * then the same whatever the count. */
static void in_parallel(void *(*fn)(void *), void *items, size_t size, Py_ssize_t count) {
    char *base = (char *)items;
#ifndef _WIN32
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (Py_ssize_t v = 1; v < count; v++) started[v] = pthread_create(&ids[v], NULL, fn, base + (size_t)v * size) == 0;
    if (count > 0) fn(base);
    for (Py_ssize_t v = 1; v < count; v++) {
        if (started[v]) pthread_join(ids[v], NULL);
        else fn(base + (size_t)v * size); /* no thread to be had: do it here */
    }
#else
    for (Py_ssize_t v = 0; v < count; v++) fn(base + (size_t)v * size);
#endif
}

/* Centres sorted by their projection on one axis, for a pruned exact search.
 *
 * |u . (x - c)| <= |x - c| for a unit vector u, so a centre whose projection is farther from
 * the point's than the distance already found cannot be nearer. The search starts where the
 * point's projection falls in the sorted list and walks outwards in both directions, each
 * direction stopping once the gap of projections exceeds the distance to beat (with a margin
 * far above float32 rounding, so that no centre at an equal float32 distance is ever left
 * out). The axis is the centres' direction of largest spread (power iteration), where the
 * gaps grow fastest; any unit axis would give the same answers. */
typedef struct {
    float *rows;      /* the centres in sorted order, (m, dim) float32 */
    double *proj;     /* their projections, ascending */
    int64_t *index;   /* original index of each sorted position */
    int64_t *where;   /* sorted position of each original index */
    double axis[MAX_DIM];
    Py_ssize_t m;
    int dim;
} Centers;

typedef struct {
    double key;
    int64_t index;
} Keyed;

static int by_key(const void *a, const void *b) {
    const Keyed *p = (const Keyed *)a, *q = (const Keyed *)b;
    if (p->key < q->key) return -1;
    if (p->key > q->key) return 1;
    return (p->index > q->index) - (p->index < q->index);
}

static void spread_axis(const float *rows, Py_ssize_t m, int dim, double *axis) {
    double mean[MAX_DIM] = {0}, cov[MAX_DIM][MAX_DIM] = {{0}};
    for (Py_ssize_t j = 0; j < m; j++)
        for (int d = 0; d < dim; d++) mean[d] += rows[(size_t)j * (size_t)dim + (size_t)d];
    for (int d = 0; d < dim; d++) mean[d] /= (double)m;
    for (Py_ssize_t j = 0; j < m; j++)
        for (int a = 0; a < dim; a++)
            for (int b = 0; b < dim; b++)
                cov[a][b] += (rows[(size_t)j * (size_t)dim + (size_t)a] - mean[a]) *
                             (rows[(size_t)j * (size_t)dim + (size_t)b] - mean[b]);
    double v[MAX_DIM];
    for (int d = 0; d < dim; d++) v[d] = 1.0 + 0.01 * d; /* any start off the degenerate cases */
    for (int iteration = 0; iteration < 30; iteration++) {
        double w[MAX_DIM] = {0}, norm = 0.0;
        for (int a = 0; a < dim; a++)
            for (int b = 0; b < dim; b++) w[a] += cov[a][b] * v[b];
        for (int d = 0; d < dim; d++) norm += w[d] * w[d];
        if (!(norm > 1e-300)) break; /* all centres equal along every axis: keep v */
        norm = sqrt(norm);
        for (int d = 0; d < dim; d++) v[d] = w[d] / norm;
    }
    double norm = 0.0;
    for (int d = 0; d < dim; d++) norm += v[d] * v[d];
    norm = sqrt(norm);
    for (int d = 0; d < dim; d++) axis[d] = v[d] / norm;
}

static inline double project(const double *axis, const float *x, int dim) {
    double q = 0.0;
    for (int d = 0; d < dim; d++) q += axis[d] * (double)x[d];
    return q;
}

static void centers_free(Centers *c) {
    free(c->rows);
    free(c->proj);
    free(c->index);
    free(c->where);
}

static int centers_init(Centers *c, const float *rows, Py_ssize_t m, int dim) {
    size_t count = (size_t)(m > 0 ? m : 1);
    c->m = m;
    c->dim = dim;
    c->rows = (float *)malloc(sizeof(float) * count * (size_t)dim);
    c->proj = (double *)malloc(sizeof(double) * count);
    c->index = (int64_t *)malloc(sizeof(int64_t) * count);
    c->where = (int64_t *)malloc(sizeof(int64_t) * count);
    Keyed *keyed = (Keyed *)malloc(sizeof(Keyed) * count);
    if (!c->rows || !c->proj || !c->index || !c->where || !keyed) {
        free(keyed);
        centers_free(c);
        return -1;
    }
    spread_axis(rows, m, dim, c->axis);
    for (Py_ssize_t j = 0; j < m; j++) {
        keyed[j].key = project(c->axis, rows + (size_t)j * (size_t)dim, dim);
        keyed[j].index = j;
    }
    qsort(keyed, (size_t)m, sizeof(Keyed), by_key);
    for (Py_ssize_t s = 0; s < m; s++) {
        int64_t j = keyed[s].index;
        c->proj[s] = keyed[s].key;
        c->index[s] = j;
        c->where[j] = s;
        memcpy(c->rows + (size_t)s * (size_t)dim, rows + (size_t)j * (size_t)dim, sizeof(float) * (size_t)dim);
    }
    free(keyed);
    return 0;
}

static inline float squared_distance(const float *x, const float *c, int dim) {
    float diff = x[0] - c[0];
    float sum = diff * diff;
    if (dim == 3) { /* RGB: the same sums, unrolled */
        float d1 = x[1] - c[1], d2 = x[2] - c[2];
        sum = sum + d1 * d1;
        return sum + d2 * d2;
    }
    for (int d = 1; d < dim; d++) {
        diff = x[d] - c[d];
        sum = sum + diff * diff;
    }
    return sum;
}

/* The running nearest and runner-up of one point over a set of distinct centres seen in any
 * order: the lowest index among the smallest distances, and the second smallest distance of
 * the multiset (equal to the best on a tie), exactly as a scan in index order would give. */
typedef struct {
    float best, second;
    int64_t label;
} Nearest;

static inline void consider(Nearest *n, float dist, int64_t j) {
    int better = dist < n->best || (dist == n->best && j < n->label);
    float second = better ? n->best : (dist < n->second ? dist : n->second);
    n->best = better ? dist : n->best;
    n->label = better ? j : n->label;
    n->second = second;
}

/* A projection gap beyond which every centre is strictly farther, in float32, than `beat`. */
static inline double beyond(float beat) { return (double)beat * (1.0 + 1e-5) + 1e-4; }

/* Nearest centre of the point x (and, with want_second, the exact runner-up distance),
 * optionally starting from the centre `warm` (original index, or -1). */
static inline Nearest nearest_one(const float *x, const Centers *c, int64_t warm, int want_second) {
    Nearest n = {INFINITY, INFINITY, 0};
    const int dim = c->dim;
    int64_t skip = -1;
    if (warm >= 0) {
        skip = c->where[warm];
        consider(&n, squared_distance(x, c->rows + (size_t)skip * (size_t)dim, dim), warm);
    }
    double q = project(c->axis, x, dim);
    /* first sorted position whose projection is >= q */
    Py_ssize_t lo = 0, hi = c->m;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (c->proj[mid] < q) lo = mid + 1;
        else hi = mid;
    }
    Py_ssize_t right = lo, left = lo - 1;
    int go_left = left >= 0, go_right = right < c->m;
    while (go_left || go_right) {
        double limit = beyond(want_second ? n.second : n.best);
        if (go_right) {
            double gap = c->proj[right] - q;
            if (gap * gap > limit) {
                go_right = 0;
            } else {
                if (right != skip)
                    consider(&n, squared_distance(x, c->rows + (size_t)right * (size_t)dim, dim), c->index[right]);
                go_right = ++right < c->m;
            }
        }
        limit = beyond(want_second ? n.second : n.best);
        if (go_left) {
            double gap = q - c->proj[left];
            if (gap * gap > limit) {
                go_left = 0;
            } else {
                if (left != skip)
                    consider(&n, squared_distance(x, c->rows + (size_t)left * (size_t)dim, dim), c->index[left]);
                go_left = --left >= 0;
            }
        }
    }
    return n;
}

/* Candidate lists per cell of a grid over the points (Heckbert's locally sorted search).
 *
 * For a box B, a centre can be the nearest or the second nearest centre of some point in B only
 * if its smallest distance to B is no larger than the second smallest, over all centres, of
 * the largest distance to B: two centres lie within that of every point of B. A cell's list
 * keeps those centres (with a margin far above float32 rounding, so that a centre at an equal
 * float32 distance is never left out) in index order, and a point is compared with its cell's
 * list only: the same nearest and runner-up as a scan of every centre.
 *
 * Three nested grids, each cell of one split in two along every axis in the next: a cell's list
 * is built from its parent's (a centre left out of the parent cannot qualify for a part of
 * it), and each list the first time a point of its cell is searched. */
#define LEVELS 2

typedef struct {
    int32_t *first, *count; /* per cell; count -1: not built yet */
    int grid;
    double step[MAX_DIM];
} Level;

typedef struct {
    const float *rows; /* the centres in index order, (m, dim) */
    Py_ssize_t m;
    int dim;
    double lo[MAX_DIM], inverse[MAX_DIM];
    Level level[LEVELS];
    int32_t *items, *all;
    double *near;
    size_t used, capacity;
} Cells;

static int cells_base(int dim) {
    switch (dim) {
        case 1: return 256;
        case 2: return 16;
        case 3: return 8;
        case 4: return 4;
        default: return 0; /* no cell lists: the projection search */
    }
}

static void cells_free(Cells *g) {
    for (int l = 0; l < LEVELS; l++) {
        free(g->level[l].first);
        free(g->level[l].count);
    }
    free(g->items);
    free(g->all);
    free(g->near);
}

/* 0: lists ready; 1: not worth it here (use the projection search); -1: out of memory. */
static int cells_init(Cells *g, const float *rows, Py_ssize_t m, int dim, const float *x, Py_ssize_t start,
                      Py_ssize_t stop) {
    memset(g, 0, sizeof(*g));
    g->rows = rows;
    g->m = m;
    g->dim = dim;
    int base = cells_base(dim);
    if (!base || stop - start < 256 || m < 8) return 1;
    double hi[MAX_DIM];
    for (int d = 0; d < dim; d++) g->lo[d] = hi[d] = x[(size_t)start * (size_t)dim + (size_t)d];
    for (Py_ssize_t i = start; i < stop; i++)
        for (int d = 0; d < dim; d++) {
            double v = x[(size_t)i * (size_t)dim + (size_t)d];
            if (v < g->lo[d]) g->lo[d] = v;
            if (v > hi[d]) hi[d] = v;
        }
    for (int l = 0; l < LEVELS; l++) {
        Level *level = &g->level[l];
        level->grid = base << l;
        size_t cells = 1;
        for (int d = 0; d < dim; d++) {
            cells *= (size_t)level->grid;
            level->step[d] = ((hi[d] - g->lo[d]) + 1e-6) / level->grid;
        }
        level->first = (int32_t *)malloc(sizeof(int32_t) * cells);
        level->count = (int32_t *)malloc(sizeof(int32_t) * cells);
        if (!level->first || !level->count) {
            cells_free(g);
            return -1;
        }
        for (size_t cell = 0; cell < cells; cell++) level->count[cell] = -1;
    }
    for (int d = 0; d < dim; d++) g->inverse[d] = 1.0 / g->level[LEVELS - 1].step[d];
    g->capacity = (size_t)m * 64;
    g->items = (int32_t *)malloc(sizeof(int32_t) * g->capacity);
    g->all = (int32_t *)malloc(sizeof(int32_t) * (size_t)m);
    g->near = (double *)malloc(sizeof(double) * (size_t)m);
    if (!g->items || !g->all || !g->near) {
        cells_free(g);
        return -1;
    }
    for (Py_ssize_t j = 0; j < m; j++) g->all[j] = (int32_t)j;
    return 0;
}

static inline Py_ssize_t cell_index(const Cells *g, int l, const int coord[MAX_DIM]) {
    Py_ssize_t cell = 0;
    for (int d = 0; d < g->dim; d++) cell = cell * g->level[l].grid + (coord[d] >> (LEVELS - 1 - l));
    return cell;
}

/* Build the list of the level-l cell holding the finest cell `coord` from `parent` (count
 * entries); returns 0, or -1 when out of memory. */
static int cells_build(Cells *g, int l, const int coord[MAX_DIM], const int32_t *parent, int32_t count) {
    const int dim = g->dim;
    const Level *level = &g->level[l];
    double box_lo[MAX_DIM], box_hi[MAX_DIM];
    for (int d = 0; d < dim; d++) {
        int at = coord[d] >> (LEVELS - 1 - l);
        double slack = 1e-6 * (level->step[d] + 1.0);
        box_lo[d] = g->lo[d] + at * level->step[d] - slack;
        box_hi[d] = g->lo[d] + (at + 1) * level->step[d] + slack;
    }
    if (g->used + (size_t)count > g->capacity) {
        size_t capacity = 2 * g->capacity + (size_t)count;
        int32_t *grown = (int32_t *)realloc(g->items, sizeof(int32_t) * capacity);
        if (!grown) return -1;
        g->items = grown;
        g->capacity = capacity;
        /* parent may point into the old buffer: the caller passes an offset-stable copy */
    }
    double far1 = INFINITY, far2 = INFINITY; /* the two smallest largest-distances */
    double *near = g->near;
    for (int32_t s = 0; s < count; s++) {
        const float *c = g->rows + (size_t)parent[s] * (size_t)dim;
        double inside = 0.0, far = 0.0;
        for (int d = 0; d < dim; d++) {
            double v = c[d];
            double below = box_lo[d] - v, above = v - box_hi[d];
            double out = below > above ? below : above;
            out = out > 0.0 ? out : 0.0;
            double left = v - box_lo[d], right = box_hi[d] - v;
            double span = left > right ? left : right;
            inside += out * out;
            far += span * span;
        }
        near[s] = inside;
        double low = far < far1 ? far : far1;
        double high = far < far1 ? far1 : far;
        far2 = high < far2 ? high : far2;
        far1 = low;
    }
    double limit = far2 * (1.0 + 1e-5) + 1e-3;
    Py_ssize_t cell = cell_index(g, l, coord);
    int32_t kept = 0;
    int32_t *items = g->items + g->used;
    for (int32_t s = 0; s < count; s++) {
        items[kept] = parent[s];
        kept += near[s] <= limit;
    }
    level->first[cell] = (int32_t)g->used;
    level->count[cell] = kept;
    g->used += (size_t)kept;
    return 0;
}

/* The list of the finest cell holding `coord`, built (with its ancestors) if need be. */
static const int32_t *cells_list(Cells *g, const int coord[MAX_DIM], int32_t *count) {
    int l = LEVELS - 1;
    while (l >= 0 && g->level[l].count[cell_index(g, l, coord)] < 0) l--;
    for (l = l + 1; l < LEVELS; l++) {
        int32_t parent_count = (int32_t)g->m;
        size_t parent_first = 0;
        const int32_t *parent = g->all;
        if (l > 0) {
            Py_ssize_t up = cell_index(g, l - 1, coord);
            parent_count = g->level[l - 1].count[up];
            parent_first = (size_t)g->level[l - 1].first[up];
        }
        /* the parent's entries are copied first when the buffer may move */
        int32_t *copy = NULL;
        if (l > 0) {
            if (g->used + (size_t)parent_count > g->capacity) {
                copy = (int32_t *)malloc(sizeof(int32_t) * (size_t)(parent_count > 0 ? parent_count : 1));
                if (!copy) return NULL;
                memcpy(copy, g->items + parent_first, sizeof(int32_t) * (size_t)parent_count);
                parent = copy;
            } else {
                parent = g->items + parent_first;
            }
        }
        int failed = cells_build(g, l, coord, parent, parent_count) < 0;
        free(copy);
        if (failed) return NULL;
    }
    Py_ssize_t cell = cell_index(g, LEVELS - 1, coord);
    *count = g->level[LEVELS - 1].count[cell];
    return g->items + g->level[LEVELS - 1].first[cell];
}

/* Nearest centre and runner-up of x through its cell's list; ok = 0 when out of memory. */
static inline Nearest cells_nearest(Cells *g, const float *x, int *ok) {
    const int dim = g->dim, top = g->level[LEVELS - 1].grid - 1;
    int coord[MAX_DIM];
    for (int d = 0; d < dim; d++) {
        int at = (int)((x[d] - g->lo[d]) * g->inverse[d]);
        coord[d] = at < 0 ? 0 : (at > top ? top : at);
    }
    Nearest n = {INFINITY, INFINITY, 0};
    int32_t count = 0;
    const int32_t *list = cells_list(g, coord, &count);
    if (!list) {
        *ok = 0;
        return n;
    }
    for (int32_t s = 0; s < count; s++) {
        int32_t j = list[s];
        consider(&n, squared_distance(x, g->rows + (size_t)j * (size_t)dim, dim), j);
    }
    return n;
}

/* ---- argument plumbing -------------------------------------------------------------- */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static void release(Buf *bufs, int count) {
    for (int i = 0; i < count; i++)
        if (bufs[i].held) PyBuffer_Release(&bufs[i].view);
}

static int get_buffer(PyObject *obj, Buf *buf, int writable, Py_ssize_t item, Py_ssize_t items, const char *name) {
    int flags = writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS;
    if (PyObject_GetBuffer(obj, &buf->view, flags) < 0) return -1;
    buf->held = 1;
    if (buf->view.len != item * items) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd bytes, got %zd", name, item * items, buf->view.len);
        return -1;
    }
    return 0;
}

/* nearest(points, centers, dim, labels, best, second, start, stop)
 * points float32 (n, dim), centers float32 (m, dim); writes labels int64, best and second
 * float32 for the points start..stop-1 (second may be None). */
static PyObject *nearest(PyObject *self, PyObject *args) {
    PyObject *points, *centers, *labels, *best, *second;
    Py_ssize_t n, m, start, stop;
    int dim;
    if (!PyArg_ParseTuple(args, "OnOniOOOnn", &points, &n, &centers, &m, &dim, &labels, &best, &second, &start,
                          &stop))
        return NULL;
    if (dim < 1 || dim > MAX_DIM || start < 0 || stop > n || start > stop || m < 1) {
        PyErr_SetString(PyExc_ValueError, "nearest: bad shape or range");
        return NULL;
    }
    Buf b[5] = {{0}};
    int want_second = second != Py_None;
    if (get_buffer(points, &b[0], 0, 4 * dim, n, "points") < 0 || get_buffer(centers, &b[1], 0, 4 * dim, m, "centers") < 0 ||
        get_buffer(labels, &b[2], 1, 8, n, "labels") < 0 || get_buffer(best, &b[3], 1, 4, n, "best") < 0 ||
        (want_second && get_buffer(second, &b[4], 1, 4, n, "second") < 0)) {
        release(b, 5);
        return NULL;
    }
    Centers c;
    if (centers_init(&c, (const float *)b[1].view.buf, m, dim) < 0) {
        release(b, 5);
        return PyErr_NoMemory();
    }
    const float *x = (const float *)b[0].view.buf;
    int64_t *lab = (int64_t *)b[2].view.buf;
    float *top = (float *)b[3].view.buf;
    float *run = want_second ? (float *)b[4].view.buf : NULL;
    Cells g;
    int lists = cells_init(&g, (const float *)b[1].view.buf, m, dim, x, start, stop), ok = 1;
    if (lists < 0) {
        centers_free(&c);
        release(b, 5);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = start; i < stop && ok; i++) {
        const float *p = x + (size_t)i * (size_t)dim;
        Nearest found = lists == 0 ? cells_nearest(&g, p, &ok) : nearest_one(p, &c, -1, run != NULL);
        lab[i] = found.label;
        top[i] = found.best;
        if (run) run[i] = found.second;
    }
    Py_END_ALLOW_THREADS
    cells_free(&g);
    centers_free(&c);
    if (!ok) {
        release(b, 5);
        return PyErr_NoMemory();
    }
    release(b, 5);
    Py_RETURN_NONE;
}

/* Each centre's nearest other centres, sorted by distance (Elkan's centre-to-centre bounds).
 *
 * A point x of centre a at distance u from it is no nearer than D - u to a centre at distance
 * D from a. Scanning a's neighbours in order of D, everything from the first with D - u above
 * the runner-up distance found so far on is farther than the runner-up: the nearest and the
 * runner-up are exact. Only the NEIGHBOURS nearest are listed; when the scan runs off the end
 * of the list before it may stop (`beyond`, the distance of the nearest centre not listed, is
 * not far enough), the caller searches all centres instead. */
#define NEIGHBOURS 24

typedef struct {
    int32_t *index;  /* (m, listed) original indices, by distance */
    double *dist;    /* (m, listed) their distances */
    double *beyond;  /* (m,) distance of the nearest centre not listed (inf: all are) */
    Py_ssize_t listed;
} Neighbours;

static void neighbours_free(Neighbours *nb) {
    free(nb->index);
    free(nb->dist);
    free(nb->beyond);
}

/* Rows [start, stop) of a neighbour list (each centre's row depends on the centres only). */
typedef struct {
    Neighbours *nb;
    const float *rows;
    Py_ssize_t m, start, stop;
    int dim, failed;
} NeighbourRows;

static void *neighbour_rows(void *arg) {
    NeighbourRows *r = (NeighbourRows *)arg;
    Neighbours *nb = r->nb;
    const float *rows = r->rows;
    const Py_ssize_t m = r->m;
    const int dim = r->dim;
    /* the listed + 1 nearest, kept sorted by (distance, index) as they are found: the first
     * `listed` are the list, the next one's distance is `beyond` (the nearest not listed) */
    Py_ssize_t keep = nb->listed + 1;
    Keyed *keyed = (Keyed *)malloc(sizeof(Keyed) * (size_t)keep);
    if (!keyed) {
        r->failed = 1;
        return NULL;
    }
    for (Py_ssize_t a = r->start; a < r->stop; a++) {
        Py_ssize_t count = 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            if (j == a) continue;
            double squared = 0.0;
            for (int d = 0; d < dim; d++) {
                double step = (double)rows[(size_t)a * (size_t)dim + (size_t)d] - (double)rows[(size_t)j * (size_t)dim + (size_t)d];
                squared += step * step;
            }
            Keyed item = {squared, j}; /* squared: the same order, a root only for those kept */
            /* j rises, so among equal distances a later j sorts last: only a strictly smaller
             * distance moves ahead of a kept one */
            if (count == keep && !(item.key < keyed[keep - 1].key)) continue;
            Py_ssize_t at = count < keep ? count++ : keep - 1;
            while (at > 0 && item.key < keyed[at - 1].key) {
                keyed[at] = keyed[at - 1];
                at--;
            }
            keyed[at] = item;
        }
        nb->beyond[a] = count > nb->listed ? sqrt(keyed[nb->listed].key) : INFINITY;
        for (Py_ssize_t s = 0; s < nb->listed; s++) {
            nb->index[(size_t)a * (size_t)nb->listed + (size_t)s] = (int32_t)keyed[s].index;
            nb->dist[(size_t)a * (size_t)nb->listed + (size_t)s] = sqrt(keyed[s].key);
        }
    }
    free(keyed);
    return NULL;
}

/* Centres fewer than this are listed on one thread (m^2 distances: 128 centres ~0.3 ms). */
#define MIN_LISTED_PIECE 64

/* 0, or -1 when out of memory. rows: the centres (m, dim) float32, in index order; the rows
 * are split between up to `threads` threads. */
static int neighbours_init(Neighbours *nb, const float *rows, Py_ssize_t m, int dim, int threads) {
    memset(nb, 0, sizeof(*nb));
    nb->listed = m - 1 < NEIGHBOURS ? m - 1 : NEIGHBOURS;
    size_t cells = (size_t)m * (size_t)(nb->listed > 0 ? nb->listed : 1);
    nb->index = (int32_t *)malloc(sizeof(int32_t) * cells);
    nb->dist = (double *)malloc(sizeof(double) * cells);
    nb->beyond = (double *)malloc(sizeof(double) * (size_t)m);
    if (!nb->index || !nb->dist || !nb->beyond) {
        neighbours_free(nb);
        return -1;
    }
    Py_ssize_t count = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    if (count > m / MIN_LISTED_PIECE) count = m / MIN_LISTED_PIECE;
    if (count < 1) count = 1;
    NeighbourRows parts[MAX_THREADS];
    Py_ssize_t step = (m + count - 1) / count;
    for (Py_ssize_t v = 0; v < count; v++) {
        Py_ssize_t start = v * step, stop = start + step < m ? start + step : m;
        NeighbourRows part = {nb, rows, m, start, stop, dim, 0};
        parts[v] = part;
    }
    in_parallel(neighbour_rows, parts, sizeof(NeighbourRows), count);
    for (Py_ssize_t v = 0; v < count; v++)
        if (parts[v].failed) {
            neighbours_free(nb);
            return -1;
        }
    return 0;
}

/* The nearest centre and runner-up of x, whose centre a is at squared distance `own` (float32,
 * as squared_distance computes it), through a's neighbours; *ok = 0 when the list is too short
 * to be sure (the caller then searches every centre). */
static inline Nearest neighbours_nearest(const Neighbours *nb, const Centers *c, const float *x, int64_t a, float own,
                                         int *ok) {
    Nearest n = {own, INFINITY, a};
    const int dim = c->dim;
    double u = sqrt((double)own) * (1.0 + 1e-6) + 1e-6;
    const int32_t *index = nb->index + (size_t)a * (size_t)nb->listed;
    const double *dist = nb->dist + (size_t)a * (size_t)nb->listed;
    float seen = n.second;
    double stop = sqrt((double)seen) * (1.0 + 1e-6) + 1e-4; /* recomputed when the runner-up moves */
    for (Py_ssize_t s = 0; s < nb->listed; s++) {
        if (n.second != seen) {
            seen = n.second;
            stop = sqrt((double)seen) * (1.0 + 1e-6) + 1e-4;
        }
        /* every centre from here on is farther than D - u from x */
        if (dist[s] - u > stop) {
            *ok = 1;
            return n;
        }
        int32_t j = index[s];
        consider(&n, squared_distance(x, c->rows + (size_t)c->where[j] * (size_t)dim, dim), j);
    }
    *ok = nb->beyond[a] - u > sqrt((double)n.second) * (1.0 + 1e-6) + 1e-4;
    return n;
}

/* How far the centres moved in the last pass, for Hamerly's bounds (move NULL: no pass yet),
 * and half of each centre's distance to its nearest other centre (half NULL: not known). */
typedef struct {
    const double *move;
    double largest, runner_up; /* the largest move, and the largest of the other centres */
    int64_t fastest;
    const double *half;
    const Neighbours *neighbours;
    const double *near_move; /* per centre: the largest move among its listed neighbours */
} Moves;

static Moves moves_of(const double *move, Py_ssize_t m, double largest) {
    Moves moved = {move, largest, 0.0, 0, NULL, NULL, NULL};
    if (!move) return moved;
    for (Py_ssize_t j = 1; j < m; j++)
        if (move[j] > move[moved.fastest]) moved.fastest = j;
    for (Py_ssize_t j = 0; j < m; j++)
        if (j != moved.fastest && move[j] > moved.runner_up) moved.runner_up = move[j];
    return moved;
}

/* The nearest centre and runner-up of x by a full search: through the cell lists of the
 * range when they can be had (`lists`: 2 not built yet, 0 built, 1 not worth it or out of
 * memory; `rows` the centres in index order), else the projection search. */
static inline Nearest full_search(Cells *g, int *lists, const float *rows, const Centers *c, const float *x,
                                  Py_ssize_t start, Py_ssize_t stop, const float *p, int64_t warm) {
    if (*lists == 2) *lists = cells_init(g, rows, c->m, c->dim, x, start, stop) == 0 ? 0 : 1;
    if (*lists == 0) {
        int ok = 1;
        Nearest found = cells_nearest(g, p, &ok);
        if (ok) return found;
    }
    return nearest_one(p, c, warm, 1);
}

/* One Hamerly step for points start..stop-1 (see refresh); returns how many were searched.
 * rows: the centres in index order (float32), for the cell lists of a full search. */
static Py_ssize_t refresh_range(const Centers *c, const float *rows, const float *x, int64_t *lab, double *up,
                                double *low, const Moves *moved, double margin, Py_ssize_t start, Py_ssize_t stop) {
    const int dim = c->dim;
    const double *move = moved->move;
    Py_ssize_t searched = 0;
    Cells g;
    int lists = 2;
    for (Py_ssize_t i = start; i < stop; i++) {
        const float *p = x + (size_t)i * (size_t)dim;
        if (move) {
            const int64_t a = lab[i];
            const double before = low[i];
            up[i] += move[a];
            /* a point's lower bound shrinks by the largest move of the *other* centres ... */
            const double global = before - (a == moved->fastest ? moved->runner_up : moved->largest);
            /* ... or, with the own centre's neighbour list, by the largest move among the listed
             * neighbours, while a centre not listed is at least beyond - up away (the triangle
             * inequality through the own centre): the lower of the two holds for every centre */
            const double *beyond = moved->neighbours ? moved->neighbours->beyond : NULL;
            const double listed = beyond ? before - moved->near_move[a] : global;
            double local = beyond && beyond[a] - up[i] < listed ? beyond[a] - up[i] : listed;
            low[i] = local > global ? local : global;
            /* no other centre is nearer than the lower bound, nor nearer than twice the half
             * distance to the own centre's nearest neighbour minus the distance to the own */
            const double half = moved->half ? moved->half[a] : -INFINITY;
            double bound = low[i] > half ? low[i] : half;
            if (up[i] + margin < bound) continue;
            /* Hamerly's second test: the exact distance to its own centre may settle it (and
             * raises the bound on the centres not listed) */
            float own = squared_distance(p, c->rows + (size_t)c->where[a] * (size_t)dim, dim);
            up[i] = sqrt((double)own);
            if (beyond) {
                local = beyond[a] - up[i] < listed ? beyond[a] - up[i] : listed;
                low[i] = local > global ? local : global;
                bound = low[i] > half ? low[i] : half;
            }
            if (up[i] + margin < bound) continue;
            if (moved->neighbours) {
                int sure = 0;
                Nearest found = neighbours_nearest(moved->neighbours, c, p, lab[i], own, &sure);
                if (sure) {
                    lab[i] = found.label;
                    up[i] = sqrt((double)found.best);
                    low[i] = sqrt((double)found.second);
                    searched++;
                    continue;
                }
            }
        }
        Nearest found = move ? nearest_one(p, c, lab[i], 1) : full_search(&g, &lists, rows, c, x, start, stop, p, -1);
        lab[i] = found.label;
        up[i] = sqrt((double)found.best);
        low[i] = sqrt((double)found.second);
        searched++;
    }
    if (lists == 0) cells_free(&g);
    return searched;
}

/* ---- Lloyd passes ------------------------------------------------------------------ */

/* Points fewer than this are not split between threads. */
#define MIN_PIECE 8192

typedef struct {
    const Centers *c;
    const float *rows, *x;
    int64_t *lab;
    double *up, *low;
    const Moves *moved;
    double margin;
    Py_ssize_t start, stop;
} Piece;

static void *run_piece(void *arg) {
    Piece *p = (Piece *)arg;
    refresh_range(p->c, p->rows, p->x, p->lab, p->up, p->low, p->moved, p->margin, p->start, p->stop);
    return NULL;
}

/* refresh_range over all n points, on up to `threads` threads (disjoint slices: the same
 * result whatever the number). */
static void refresh_all(const Centers *c, const float *rows, const float *x, int64_t *lab, double *up, double *low,
                        const Moves *moved, double margin, Py_ssize_t n, int threads) {
    Py_ssize_t count = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    if (count > n / MIN_PIECE) count = n / MIN_PIECE;
    if (count <= 1) {
        refresh_range(c, rows, x, lab, up, low, moved, margin, 0, n);
        return;
    }
    Piece pieces[MAX_THREADS];
    Py_ssize_t step = (n + count - 1) / count;
    for (Py_ssize_t t = 0; t < count; t++) {
        Py_ssize_t start = t * step, stop = start + step < n ? start + step : n;
        Piece piece = {c, rows, x, lab, up, low, moved, margin, start, stop};
        pieces[t] = piece;
    }
    in_parallel(run_piece, pieces, sizeof(Piece), count);
}

/* The `count` points that cost most (weight x squared distance to their nearest centre), most
 * first and the lowest index among equals: numpy's argsort(-cost, kind="stable")[:count]. */
static void costliest(const double *cost, Py_ssize_t n, Py_ssize_t count, unsigned char *taken, Py_ssize_t *out) {
    memset(taken, 0, (size_t)n);
    for (Py_ssize_t r = 0; r < count; r++) {
        Py_ssize_t best = -1;
        for (Py_ssize_t i = 0; i < n; i++)
            if (!taken[i] && (best < 0 || cost[i] > cost[best])) best = i;
        taken[best] = 1;
        out[r] = best;
    }
}

typedef struct {
    float *c32;
    int64_t *lab, *empty;
    double *up, *low, *mass, *sums, *updated, *move, *cost, *half, *near_move;
    Py_ssize_t *worst;
    unsigned char *taken;
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->c32);
    free(s->lab);
    free(s->empty);
    free(s->up);
    free(s->low);
    free(s->mass);
    free(s->sums);
    free(s->updated);
    free(s->move);
    free(s->cost);
    free(s->half);
    free(s->near_move);
    free(s->worst);
    free(s->taken);
}

static int scratch_init(Scratch *s, Py_ssize_t n, Py_ssize_t m, int dim) {
    size_t nn = (size_t)n, mm = (size_t)m, dd = (size_t)dim;
    s->c32 = (float *)malloc(sizeof(float) * mm * dd);
    s->lab = (int64_t *)malloc(sizeof(int64_t) * nn);
    s->empty = (int64_t *)malloc(sizeof(int64_t) * mm);
    s->up = (double *)malloc(sizeof(double) * nn);
    s->low = (double *)malloc(sizeof(double) * nn);
    s->mass = (double *)malloc(sizeof(double) * mm);
    s->sums = (double *)malloc(sizeof(double) * mm * dd);
    s->updated = (double *)malloc(sizeof(double) * mm * dd);
    s->move = (double *)malloc(sizeof(double) * mm);
    s->cost = (double *)malloc(sizeof(double) * nn);
    s->half = (double *)malloc(sizeof(double) * mm);
    s->near_move = (double *)malloc(sizeof(double) * mm);
    s->worst = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * mm);
    s->taken = (unsigned char *)malloc(nn);
    if (!s->c32 || !s->lab || !s->empty || !s->up || !s->low || !s->mass || !s->sums || !s->updated || !s->move ||
        !s->cost || !s->half || !s->near_move || !s->worst || !s->taken) {
        scratch_free(s);
        return -1;
    }
    return 0;
}

/* half[j] = half the distance from centre j to its nearest other centre (Hamerly's s(j)):
 * a point within that of its own centre has no nearer one. Shrunk by a relative 1e-9 so that
 * rounding never makes it larger than it is. */
static void half_gaps(const double *centers, Py_ssize_t m, int dim, double *half) {
    for (Py_ssize_t j = 0; j < m; j++) half[j] = INFINITY;
    for (Py_ssize_t j = 0; j < m; j++) {
        for (Py_ssize_t i = j + 1; i < m; i++) {
            double squared = 0.0;
            for (int d = 0; d < dim; d++) {
                double step = centers[(size_t)j * (size_t)dim + (size_t)d] - centers[(size_t)i * (size_t)dim + (size_t)d];
                squared += step * step;
            }
            if (squared < half[j]) half[j] = squared;
            if (squared < half[i]) half[i] = squared;
        }
    }
    for (Py_ssize_t j = 0; j < m; j++) half[j] = m > 1 ? 0.5 * sqrt(half[j]) * (1.0 - 1e-9) : 0.0;
}

/* The last passes of an over-relaxed run are plain Lloyd passes (relax 1). */
#define PLAIN_TAIL 3

/* Over-relaxation: centre j moves from c to c + relax * (mean - c) (relax 1: to the mean). */
static void relax_steps(const double *centers, const double *mass, double *updated, Py_ssize_t m, int dim, double relax) {
    for (Py_ssize_t j = 0; j < m; j++) {
        if (!(mass[j] > 0)) continue;
        for (int d = 0; d < dim; d++) {
            size_t v = (size_t)j * (size_t)dim + (size_t)d;
            updated[v] = centers[v] + relax * (updated[v] - centers[v]);
        }
    }
}

/* From a neighbour list: Hamerly's s(j), half the distance to the nearest other centre (shrunk
 * a little: never too large), and each centre's largest move among its listed neighbours. */
static void neighbour_moves(const Neighbours *nb, const double *move, Py_ssize_t m, double *half, double *near_move) {
    for (Py_ssize_t j = 0; j < m; j++) {
        half[j] = 0.5 * nb->dist[(size_t)j * (size_t)nb->listed] * (1.0 - 1e-9);
        double most = 0.0;
        for (Py_ssize_t r = 0; r < nb->listed; r++) {
            double step = move[nb->index[(size_t)j * (size_t)nb->listed + (size_t)r]];
            most = step > most ? step : most;
        }
        near_move[j] = most;
    }
}

/* Returns the passes run, or -1 when out of memory. See lloyd() for the contract. */
/* Each point's centre and Hamerly bounds at the last pass's assignment, and how far each centre
 * moved after it (to the returned centres). */
typedef struct {
    int64_t *lab;
    double *up, *low, *move;
} Bounds;

static Py_ssize_t lloyd_passes(const double *f, const float *x, const double *w, double *centers, Py_ssize_t n,
                               Py_ssize_t m, int dim, Py_ssize_t passes, double tol, double relax, double margin,
                               int threads, const Bounds *out) {
    Scratch s;
    memset(&s, 0, sizeof(s));
    if (scratch_init(&s, n, m, dim) < 0) return -1;
    const size_t dd = (size_t)dim;
    double largest = 0.0;
    Py_ssize_t pass = 0;
    while (pass < passes) {
        for (size_t v = 0; v < (size_t)m * dd; v++) s.c32[v] = (float)centers[v];
        Centers c;
        if (centers_init(&c, s.c32, m, dim) < 0) {
            scratch_free(&s);
            return -1;
        }
        Moves moved = moves_of(pass == 0 ? NULL : s.move, m, largest);
        Neighbours nb;
        int listed = 0;
        if (pass > 0) {
            if (m > 8 && neighbours_init(&nb, s.c32, m, dim, threads) == 0) {
                moved.neighbours = &nb;
                listed = 1;
                neighbour_moves(&nb, s.move, m, s.half, s.near_move);
                moved.near_move = s.near_move;
            } else {
                half_gaps(centers, m, dim, s.half);
            }
            moved.half = s.half;
        }
        refresh_all(&c, s.c32, x, s.lab, s.up, s.low, &moved, margin, n, threads);
        if (listed) neighbours_free(&nb);
        centers_free(&c);
        pass++;
        /* weighted sums in point order, as numpy.bincount adds them */
        memset(s.mass, 0, sizeof(double) * (size_t)m);
        memset(s.sums, 0, sizeof(double) * (size_t)m * dd);
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t j = s.lab[i];
            s.mass[j] += w[i];
            for (int d = 0; d < dim; d++) s.sums[(size_t)j * dd + (size_t)d] += w[i] * f[(size_t)i * dd + (size_t)d];
        }
        Py_ssize_t empties = 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            for (int d = 0; d < dim; d++) {
                size_t v = (size_t)j * dd + (size_t)d;
                s.updated[v] = s.mass[j] > 0 ? s.sums[v] / s.mass[j] : centers[v];
            }
            if (!(s.mass[j] > 0)) s.empty[empties++] = j;
        }
        if (relax != 1.0 && pass <= passes - PLAIN_TAIL) relax_steps(centers, s.mass, s.updated, m, dim, relax);
        if (empties) {
            /* an empty cluster takes the point that costs most (its own exact distance) */
            for (Py_ssize_t i = 0; i < n; i++)
                s.cost[i] = w[i] * (double)squared_distance(x + (size_t)i * dd, s.c32 + (size_t)s.lab[i] * dd, dim);
            Py_ssize_t count = empties < n ? empties : n;
            costliest(s.cost, n, count, s.taken, s.worst);
            for (Py_ssize_t r = 0; r < count; r++)
                for (int d = 0; d < dim; d++)
                    s.updated[(size_t)s.empty[r] * dd + (size_t)d] = f[(size_t)s.worst[r] * dd + (size_t)d];
        }
        double shift = 0.0;
        largest = 0.0;
        for (Py_ssize_t j = 0; j < m; j++) {
            double squared = 0.0;
            for (int d = 0; d < dim; d++) {
                size_t v = (size_t)j * dd + (size_t)d;
                double step = s.updated[v] - centers[v];
                double size = step < 0 ? -step : step;
                if (size > shift) shift = size;
                squared += step * step;
            }
            s.move[j] = sqrt(squared);
            if (s.move[j] > largest) largest = s.move[j];
        }
        memcpy(centers, s.updated, sizeof(double) * (size_t)m * dd);
        if (shift <= tol && !empties) break;
    }
    if (out && pass > 0) {
        /* the last assignment with its bounds, and how far each centre moved after it */
        memcpy(out->lab, s.lab, sizeof(int64_t) * (size_t)n);
        memcpy(out->up, s.up, sizeof(double) * (size_t)n);
        memcpy(out->low, s.low, sizeof(double) * (size_t)n);
        memcpy(out->move, s.move, sizeof(double) * (size_t)m);
    }
    scratch_free(&s);
    return pass;
}

/* lloyd(features, points, n, dim, weights, centers, m, passes, tol, relax, margin, threads) -> passes
 *
 * Weighted Lloyd iterations on features float64 (n, dim) (points: the same as float32, for the
 * search), moving centers float64 (m, dim) in place; stops early when no centre moves more
 * than tol along any axis. An empty cluster is moved onto the point that costs most. Hamerly's
 * bounds (2010) spare most of the nearest-centre search after the first pass; they only skip
 * points whose centre cannot have changed, so the centres are exactly those of plain Lloyd.
 *
 * relax != 1 over-relaxes all but the last PLAIN_TAIL passes: a centre moves relax times the
 * way to its cluster's mean (the bounds widen by the move actually made, so they stay exact).
 * On the dense colour sets of photos plain Lloyd creeps (the inertia still falls 0.01 % a pass
 * after 40 passes); relax 2 gets further in 15 passes than plain Lloyd in 40. */
static PyObject *lloyd(PyObject *self, PyObject *args) {
    PyObject *features, *points, *weights, *centers, *labels = Py_None, *up = Py_None, *low = Py_None, *move = Py_None;
    Py_ssize_t n, m, passes;
    int dim, threads;
    double tol, relax, margin;
    if (!PyArg_ParseTuple(args, "OOniOOnndddi|OOOO", &features, &points, &n, &dim, &weights, &centers, &m, &passes, &tol,
                          &relax, &margin, &threads, &labels, &up, &low, &move))
        return NULL;
    if (dim < 1 || dim > MAX_DIM || n < 1 || m < 1 || passes < 0 || !(relax > 0 && relax <= 2)) {
        PyErr_SetString(PyExc_ValueError, "lloyd: bad shape");
        return NULL;
    }
    int bounded = labels != Py_None;
    Buf b[8] = {{0}};
    if (get_buffer(features, &b[0], 0, 8 * dim, n, "features") < 0 || get_buffer(points, &b[1], 0, 4 * dim, n, "points") < 0 ||
        get_buffer(weights, &b[2], 0, 8, n, "weights") < 0 || get_buffer(centers, &b[3], 1, 8 * dim, m, "centers") < 0 ||
        (bounded && (get_buffer(labels, &b[4], 1, 8, n, "labels") < 0 || get_buffer(up, &b[5], 1, 8, n, "up") < 0 ||
                     get_buffer(low, &b[6], 1, 8, n, "low") < 0 || get_buffer(move, &b[7], 1, 8, m, "move") < 0))) {
        release(b, 8);
        return NULL;
    }
    Bounds out = {bounded ? (int64_t *)b[4].view.buf : NULL, bounded ? (double *)b[5].view.buf : NULL,
                  bounded ? (double *)b[6].view.buf : NULL, bounded ? (double *)b[7].view.buf : NULL};
    Py_ssize_t done;
    Py_BEGIN_ALLOW_THREADS
    done = lloyd_passes((const double *)b[0].view.buf, (const float *)b[1].view.buf, (const double *)b[2].view.buf,
                        (double *)b[3].view.buf, n, m, dim, passes, tol, relax, margin, threads, bounded ? &out : NULL);
    Py_END_ALLOW_THREADS
    release(b, 8);
    if (done < 0) return PyErr_NoMemory();
    return PyLong_FromSsize_t(done);
}

/* settle(points, n, dim, centers, m, move, labels, up, low, margin, threads)
 *
 * The nearest of the centers float32 (m, dim) for every point of points float32 (n, dim), given
 * an earlier answer: labels[i] a centre, up[i] >= the point's distance to where that centre was
 * and low[i] <= its distance to where any other was, and move[j] >= how far centre j has moved
 * since (all in feature units, not squared), as between two Lloyd passes: Hamerly's test with
 * the neighbour-local bounds of lloyd() settles most points, the others are searched. labels,
 * up and low receive the exact nearest (the lowest index on a tie), as a full search gives it,
 * with bounds for these centres. */
static PyObject *settle(PyObject *self, PyObject *args) {
    PyObject *points, *centers, *moves, *labels, *up, *low;
    Py_ssize_t n, m;
    int dim, threads;
    double margin;
    if (!PyArg_ParseTuple(args, "OniOnOOOOdi", &points, &n, &dim, &centers, &m, &moves, &labels, &up, &low, &margin,
                          &threads))
        return NULL;
    if (dim < 1 || dim > MAX_DIM || n < 1 || m < 1) {
        PyErr_SetString(PyExc_ValueError, "settle: bad shape");
        return NULL;
    }
    Buf b[6] = {{0}};
    if (get_buffer(points, &b[0], 0, 4 * dim, n, "points") < 0 || get_buffer(centers, &b[1], 0, 4 * dim, m, "centers") < 0 ||
        get_buffer(moves, &b[2], 0, 8, m, "move") < 0 || get_buffer(labels, &b[3], 1, 8, n, "labels") < 0 ||
        get_buffer(up, &b[4], 1, 8, n, "up") < 0 || get_buffer(low, &b[5], 1, 8, n, "low") < 0) {
        release(b, 6);
        return NULL;
    }
    const float *x = (const float *)b[0].view.buf, *rows = (const float *)b[1].view.buf;
    const double *move = (const double *)b[2].view.buf;
    int64_t *lab = (int64_t *)b[3].view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (lab[i] < 0 || lab[i] >= m) {
            release(b, 6);
            PyErr_SetString(PyExc_ValueError, "settle: label out of range");
            return NULL;
        }
    }
    double *half = (double *)malloc(sizeof(double) * (size_t)m);
    double *near_move = (double *)malloc(sizeof(double) * (size_t)m);
    Centers c;
    int failed = !half || !near_move || centers_init(&c, rows, m, dim) < 0;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        double largest = 0.0;
        for (Py_ssize_t j = 0; j < m; j++) largest = move[j] > largest ? move[j] : largest;
        Moves moved = moves_of(move, m, largest);
        Neighbours nb;
        int listed = m > 8 && neighbours_init(&nb, rows, m, dim, threads) == 0;
        if (listed) {
            neighbour_moves(&nb, move, m, half, near_move);
            moved.neighbours = &nb;
            moved.near_move = near_move;
            moved.half = half;
        }
        refresh_all(&c, rows, x, lab, (double *)b[4].view.buf, (double *)b[5].view.buf, &moved, margin, n, threads);
        if (listed) neighbours_free(&nb);
        centers_free(&c);
        Py_END_ALLOW_THREADS
    }
    free(half);
    free(near_move);
    release(b, 6);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* cluster_sums(features, n, dim, weights, labels, k, mass, sums)
 * mass[j] = sum of weights[i] and sums[j, d] = sum of weights[i] * features[i, d] over the
 * points i with labels[i] == j, features float64 (n, dim); added in index order. */
static PyObject *cluster_sums(PyObject *self, PyObject *args) {
    PyObject *features, *weights, *labels, *mass, *sums;
    Py_ssize_t n, k;
    int dim;
    if (!PyArg_ParseTuple(args, "OniOOnOO", &features, &n, &dim, &weights, &labels, &k, &mass, &sums)) return NULL;
    if (dim < 1 || dim > MAX_DIM || k < 1) {
        PyErr_SetString(PyExc_ValueError, "cluster_sums: bad shape");
        return NULL;
    }
    Buf b[5] = {{0}};
    if (get_buffer(features, &b[0], 0, 8 * dim, n, "features") < 0 || get_buffer(weights, &b[1], 0, 8, n, "weights") < 0 ||
        get_buffer(labels, &b[2], 0, 8, n, "labels") < 0 || get_buffer(mass, &b[3], 1, 8, k, "mass") < 0 ||
        get_buffer(sums, &b[4], 1, 8 * dim, k, "sums") < 0) {
        release(b, 5);
        return NULL;
    }
    const double *f = (const double *)b[0].view.buf, *w = (const double *)b[1].view.buf;
    const int64_t *lab = (const int64_t *)b[2].view.buf;
    double *total = (double *)b[3].view.buf, *sum = (double *)b[4].view.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    memset(total, 0, sizeof(double) * (size_t)k);
    memset(sum, 0, sizeof(double) * (size_t)k * (size_t)dim);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t j = lab[i];
        if (j < 0 || j >= k) {
            bad = 1;
            break;
        }
        total[j] += w[i];
        for (int d = 0; d < dim; d++) sum[j * dim + d] += w[i] * f[(size_t)i * (size_t)dim + (size_t)d];
    }
    Py_END_ALLOW_THREADS
    release(b, 5);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "cluster_sums: label out of range");
        return NULL;
    }
    Py_RETURN_NONE;
}

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

/* grid_cells(features, n, dim, grid, inverse) -> count
 * The occupied cells of a regular grid over the points' bounding box, as numpy computes them:
 * per axis low = min, span = max(max - low, 1e-9), cell = min(int64((x - low) * (grid / span)),
 * grid - 1), key = (cell_0 * grid + cell_1) * grid + ...; inverse[i] receives the rank of point
 * i's key among the distinct keys in ascending order (np.unique's return_inverse), and the
 * number of distinct keys is returned. An open-addressing hash table finds the distinct keys in
 * O(n) (numpy sorts all n keys), and only those are sorted (radix). grid**dim must fit in 62 bits. */
static PyObject *grid_cells(PyObject *self, PyObject *args) {
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
    if (get_buffer(features, &b[0], 0, 8 * dim, n, "features") < 0 || get_buffer(inverse, &b[1], 1, 8, n, "inverse") < 0) {
        release(b, 2);
        return NULL;
    }
    const double *f = (const double *)b[0].view.buf;
    int64_t *out = (int64_t *)b[1].view.buf;
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
        Py_BEGIN_ALLOW_THREADS
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
        Py_END_ALLOW_THREADS
    }
    free(table);
    free(slot_of);
    free(keys);
    free(idx);
    free(tmp_key);
    free(tmp_idx);
    release(b, 2);
    if (failed) return PyErr_NoMemory();
    return PyLong_FromSsize_t(count);
}

/* Greedy k-means++ (scikit-learn's variant), as kmimg's numpy code did it: each step draws t
 * candidates, candidate = min(searchsorted(cumulative, draw * cumulative[-1]), n - 1) (side
 * 'left'), where cumulative is the running sum of weights * closest (closest: each point's
 * squared distance to its nearest chosen centre, float32 sums as squared_distance computes
 * them); the candidate that lowers the potential sum(weights * closest) most is chosen (the
 * first on a tie) and closest becomes min(closest, distance to it).
 *
 * The gain of a candidate is summed only over the points it can come nearer to: the points are
 * kept in lists by their nearest chosen centre a, each list sorted by that distance, farthest
 * first. A point at distance r from a is no nearer than D - r to a candidate at distance D from
 * a (triangle inequality), so only the points with 2 r > D can gain (with a margin far above
 * float32 rounding): a list is read up to its first point closer than D / 2. The gains are the
 * same sums over the same points whatever is skipped (a skipped point gains exactly 0), added
 * list by list. */
typedef struct {
    double *near, *cum, *gain;
    int64_t *next, *head, *chosen;
    Keyed *moved, *spare; /* spare: the merge sort's other half */
    float *rows;          /* the chosen centres, (k, dim) */
} Seeding;

static void seeding_free(Seeding *s) {
    free(s->near);
    free(s->cum);
    free(s->gain);
    free(s->next);
    free(s->head);
    free(s->chosen);
    free(s->moved);
    free(s->spare);
    free(s->rows);
}

/* 0, or -1 when out of memory. */
static int seeding_init(Seeding *s, Py_ssize_t n, int dim, Py_ssize_t k) {
    memset(s, 0, sizeof(*s));
    size_t nn = (size_t)n, kk = (size_t)k;
    s->near = (double *)malloc(sizeof(double) * nn);
    s->cum = (double *)malloc(sizeof(double) * nn);
    s->gain = (double *)malloc(sizeof(double) * 64);
    s->next = (int64_t *)malloc(sizeof(int64_t) * nn);
    s->head = (int64_t *)malloc(sizeof(int64_t) * kk);
    s->chosen = (int64_t *)malloc(sizeof(int64_t) * kk);
    s->moved = (Keyed *)malloc(sizeof(Keyed) * nn);
    s->spare = (Keyed *)malloc(sizeof(Keyed) * nn);
    s->rows = (float *)malloc(sizeof(float) * kk * (size_t)dim);
    if (!s->near || !s->cum || !s->gain || !s->next || !s->head || !s->chosen || !s->moved || !s->spare || !s->rows) {
        seeding_free(s);
        return -1;
    }
    return 0;
}

/* The squared distance from its centre below which a point cannot come nearer to a point at
 * squared distance `apart` from that centre: 2 r (1 + 1e-5) + 1e-3 < sqrt(apart) for r below
 * it (rounded down a little: a point at the threshold is always read). */
static inline double gain_threshold(double apart) {
    double r = (sqrt(apart) - 1e-3) / (2.0 * (1.0 + 1e-5));
    return r > 0 ? r * r * (1.0 - 1e-9) : 0.0;
}

static inline double between(const float *p, const float *q, int dim) {
    double sum = 0.0;
    for (int d = 0; d < dim; d++) {
        double step = (double)p[d] - (double)q[d];
        sum += step * step;
    }
    return sum;
}

/* One step: the chosen candidate's index among cand[0..t). */
static Py_ssize_t kpp_choose(Seeding *s, const float *x, int dim, const double *w, const Py_ssize_t *cand, Py_ssize_t t,
                             Py_ssize_t count) {
    for (Py_ssize_t j = 0; j < t; j++) {
        const float *c = x + (size_t)cand[j] * (size_t)dim;
        double gain = 0.0;
        for (Py_ssize_t a = 0; a < count; a++) {
            const double least = gain_threshold(between(s->rows + (size_t)a * (size_t)dim, c, dim));
            for (int64_t i = s->head[a]; i >= 0 && s->near[i] >= least; i = s->next[i]) {
                double dist = (double)squared_distance(x + (size_t)i * (size_t)dim, c, dim);
                if (dist < s->near[i]) gain += w[i] * (s->near[i] - dist);
            }
        }
        s->gain[j] = gain;
    }
    Py_ssize_t best = 0;
    for (Py_ssize_t j = 1; j < t; j++)
        if (s->gain[j] > s->gain[best]) best = j;
    return best;
}

/* by distance, farthest first, then by index (a total order: the indices differ) */
static inline int farther(const Keyed *p, const Keyed *q) {
    return p->key > q->key || (p->key == q->key && p->index < q->index);
}

#define SORT_RUN 16

/* Sort a[0..count) farthest first: insertion-sorted runs, then bottom-up merges through
 * `spare` (count items). The order is total, so the result is qsort's; the comparison is
 * inlined, about a fifth of the seeding's time with qsort's callback (2026-12-03). */
static void sort_farthest_first(Keyed *a, Keyed *spare, Py_ssize_t count) {
    for (Py_ssize_t lo = 0; lo < count; lo += SORT_RUN) {
        Py_ssize_t hi = lo + SORT_RUN < count ? lo + SORT_RUN : count;
        for (Py_ssize_t i = lo + 1; i < hi; i++) {
            Keyed item = a[i];
            Py_ssize_t j = i;
            for (; j > lo && farther(&item, &a[j - 1]); j--) a[j] = a[j - 1];
            a[j] = item;
        }
    }
    Keyed *from = a, *to = spare;
    for (Py_ssize_t width = SORT_RUN; width < count; width *= 2) {
        for (Py_ssize_t lo = 0; lo < count; lo += 2 * width) {
            Py_ssize_t mid = lo + width < count ? lo + width : count;
            Py_ssize_t hi = lo + 2 * width < count ? lo + 2 * width : count;
            Py_ssize_t i = lo, j = mid, out = lo;
            while (i < mid && j < hi) to[out++] = farther(&from[j], &from[i]) ? from[j++] : from[i++];
            while (i < mid) to[out++] = from[i++];
            while (j < hi) to[out++] = from[j++];
        }
        Keyed *swap = from;
        from = to;
        to = swap;
    }
    if (from != a) memcpy(a, from, sizeof(Keyed) * (size_t)count);
}

/* Link the `count` points of s->moved (sorted) into the list of centre `a`. */
static void kpp_link(Seeding *s, Py_ssize_t a, Py_ssize_t count) {
    sort_farthest_first(s->moved, s->spare, count);
    s->head[a] = count ? s->moved[0].index : -1;
    for (Py_ssize_t r = 0; r < count; r++) s->next[s->moved[r].index] = r + 1 < count ? s->moved[r + 1].index : -1;
}

/* Make point `index` the centre number `count`: the points it comes nearer to join its list. */
static void kpp_take(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w, Py_ssize_t index,
                     Py_ssize_t count) {
    const float *c = x + (size_t)index * (size_t)dim;
    memcpy(s->rows + (size_t)count * (size_t)dim, c, sizeof(float) * (size_t)dim);
    s->chosen[count] = index;
    Py_ssize_t taken = 0;
    for (Py_ssize_t a = 0; a < count; a++) {
        const double least = gain_threshold(between(s->rows + (size_t)a * (size_t)dim, c, dim));
        int64_t last = -1; /* the last point kept so far; the rest of the list keeps its order */
        for (int64_t i = s->head[a], following; i >= 0 && s->near[i] >= least; i = following) {
            following = s->next[i];
            double dist = (double)squared_distance(x + (size_t)i * (size_t)dim, c, dim);
            if (dist < s->near[i]) {
                s->near[i] = dist;
                s->moved[taken].key = dist;
                s->moved[taken++].index = i;
                if (last < 0) s->head[a] = following;
                else s->next[last] = following;
            } else {
                last = i;
            }
        }
    }
    kpp_link(s, count, taken);
    double running = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        running += w[i] * s->near[i];
        s->cum[i] = running;
    }
}

/* Greedy k-means++ from `first`; writes the chosen indices, returns how many (fewer than k when
 * every point is a centre already). */
static Py_ssize_t seeding_run(Seeding *s, const float *x, Py_ssize_t n, int dim, const double *w, Py_ssize_t first,
                              const double *draw, Py_ssize_t t, Py_ssize_t k, int64_t *out) {
    const float *p0 = x + (size_t)first * (size_t)dim;
    memcpy(s->rows, p0, sizeof(float) * (size_t)dim);
    s->chosen[0] = first;
    double running = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        s->near[i] = (double)squared_distance(x + (size_t)i * (size_t)dim, p0, dim);
        s->moved[i].key = s->near[i];
        s->moved[i].index = i;
        running += w[i] * s->near[i];
        s->cum[i] = running;
    }
    kpp_link(s, 0, n);
    Py_ssize_t count = 1;
    Py_ssize_t cand[64];
    while (count < k && s->cum[n - 1] > 0) {
        const double *step = draw + (size_t)(count - 1) * (size_t)t;
        double total = s->cum[n - 1];
        for (Py_ssize_t j = 0; j < t; j++) {
            double value = step[j] * total;
            Py_ssize_t lo = 0, hi = n;
            while (lo < hi) { /* numpy.searchsorted, side='left' */
                Py_ssize_t mid = lo + (hi - lo) / 2;
                if (s->cum[mid] < value) lo = mid + 1;
                else hi = mid;
            }
            cand[j] = lo < n - 1 ? lo : n - 1;
        }
        Py_ssize_t best = kpp_choose(s, x, dim, w, cand, t, count);
        kpp_take(s, x, n, dim, w, cand[best], count);
        count++;
    }
    memcpy(out, s->chosen, sizeof(int64_t) * (size_t)count);
    return count;
}

/* The work of one call of starts(): every start is independent (its own seeding scratch, its
 * own slice of centers and distances), so starts run on separate threads without changing any
 * result; worker v takes the starts v, v + workers, ... */
typedef struct {
    const double *f;
    const float *x;
    const double *w;
    const int64_t *first;
    const double *draw;
    double *out;
    float *dist;
    Py_ssize_t n;
    int dim;
    Py_ssize_t t, k, count, passes;
    double tol, relax, margin;
    int threads;
    Py_ssize_t workers;
    int inner; /* threads of each start's Lloyd passes */
} StartJob;

typedef struct {
    const StartJob *job;
    Py_ssize_t index;
    int failed;
} StartWorker;

/* One start: greedy k-means++ from first[s], Lloyd passes, and (several starts) each point's
 * distance to its nearest centre for the caller to weigh. 0, or -1 when out of memory. */
static int run_start(const StartJob *j, Py_ssize_t s, Seeding *seeding, int64_t *chosen, float *rows) {
    Py_ssize_t n = j->n, k = j->k;
    int dim = j->dim;
    Py_ssize_t got = seeding_run(seeding, j->x, n, dim, j->w, j->first[s], j->draw + (size_t)s * (size_t)j->t * (size_t)(k - 1),
                                 j->t, k, chosen);
    double *c = j->out + (size_t)s * (size_t)k * (size_t)dim;
    for (Py_ssize_t q = 0; q < k; q++) /* fewer distinct points than k: repeat (numpy.resize) */
        memcpy(c + (size_t)q * (size_t)dim, j->f + (size_t)chosen[q % got] * (size_t)dim, sizeof(double) * (size_t)dim);
    if (lloyd_passes(j->f, j->x, j->w, c, n, k, dim, j->passes, j->tol, j->relax, j->margin, j->inner, NULL) < 0) return -1;
    if (j->count == 1) return 0; /* one start: nothing to weigh, distances left unwritten */
    for (size_t v = 0; v < (size_t)k * (size_t)dim; v++) rows[v] = (float)c[v];
    Centers sorted;
    if (centers_init(&sorted, rows, k, dim) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        j->dist[(size_t)s * (size_t)n + (size_t)i] = nearest_one(j->x + (size_t)i * (size_t)dim, &sorted, -1, 0).best;
    centers_free(&sorted);
    return 0;
}

static void *run_starts(void *arg) {
    StartWorker *me = (StartWorker *)arg;
    const StartJob *j = me->job;
    Seeding seeding;
    int64_t *chosen = (int64_t *)malloc(sizeof(int64_t) * (size_t)j->k);
    float *rows = (float *)malloc(sizeof(float) * (size_t)j->k * (size_t)j->dim);
    if (!chosen || !rows || seeding_init(&seeding, j->n, j->dim, j->k) < 0) {
        me->failed = 1;
    } else {
        for (Py_ssize_t s = me->index; s < j->count && !me->failed; s += j->workers)
            if (run_start(j, s, &seeding, chosen, rows) < 0) me->failed = 1;
        seeding_free(&seeding);
    }
    free(chosen);
    free(rows);
    return NULL;
}

/* starts(features, points, n, dim, weights, firsts, draws, t, k, count, passes, tol, relax, margin,
 *        threads, centers, distances)
 * `count` fits from different starts on one point set, each greedy k-means++ (from firsts[s],
 * with the draws[s] row) then Lloyd (as lloyd()); centers (count, k, dim) float64 receives each
 * fit and distances (count, n) float32 each point's squared distance to its nearest centre of
 * that fit, for the caller to weigh (the lowest inertia wins); with one start, distances are
 * not written. */
static PyObject *starts(PyObject *self, PyObject *args) {
    PyObject *features, *points, *weights, *firsts, *draws, *centers, *distances;
    Py_ssize_t n, t, k, count, passes;
    int dim, threads;
    double tol, relax, margin;
    if (!PyArg_ParseTuple(args, "OOniOOOnnnndddiOO", &features, &points, &n, &dim, &weights, &firsts, &draws, &t, &k,
                          &count, &passes, &tol, &relax, &margin, &threads, &centers, &distances))
        return NULL;
    if (dim < 1 || dim > MAX_DIM || n < 1 || t < 1 || t > 64 || k < 1 || count < 1 || passes < 0 ||
        !(relax > 0 && relax <= 2)) {
        PyErr_SetString(PyExc_ValueError, "starts: bad shape");
        return NULL;
    }
    Buf b[7] = {{0}};
    if (get_buffer(features, &b[0], 0, 8 * dim, n, "features") < 0 || get_buffer(points, &b[1], 0, 4 * dim, n, "points") < 0 ||
        get_buffer(weights, &b[2], 0, 8, n, "weights") < 0 || get_buffer(firsts, &b[3], 0, 8, count, "firsts") < 0 ||
        get_buffer(draws, &b[4], 0, 8 * t * (k - 1), count, "draws") < 0 ||
        get_buffer(centers, &b[5], 1, 8 * dim * k, count, "centers") < 0 ||
        get_buffer(distances, &b[6], 1, 4 * n, count, "distances") < 0) {
        release(b, 7);
        return NULL;
    }
    const double *f = (const double *)b[0].view.buf, *w = (const double *)b[2].view.buf;
    const float *x = (const float *)b[1].view.buf;
    const int64_t *first = (const int64_t *)b[3].view.buf;
    const double *draw = (const double *)b[4].view.buf;
    double *out = (double *)b[5].view.buf;
    float *dist = (float *)b[6].view.buf;
    for (Py_ssize_t s = 0; s < count; s++) {
        if (first[s] < 0 || first[s] >= n) {
            release(b, 7);
            PyErr_SetString(PyExc_ValueError, "starts: first point out of range");
            return NULL;
        }
    }
    StartJob job = {f, x, w, first, draw, out, dist, n, dim, t, k, count, passes, tol, relax, margin, threads, 0, 1};
    Py_ssize_t workers = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    if (workers > count) workers = count;
    job.workers = workers;
    job.inner = workers > 1 ? 1 : threads; /* the threads go to the starts, or into each start's passes */
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    StartWorker crew[MAX_THREADS];
    for (Py_ssize_t v = 0; v < workers; v++) {
        crew[v].job = &job;
        crew[v].index = v;
        crew[v].failed = 0;
    }
    in_parallel(run_starts, crew, sizeof(StartWorker), workers);
    for (Py_ssize_t v = 0; v < workers; v++) failed |= crew[v].failed;
    Py_END_ALLOW_THREADS
    release(b, 7);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

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
static PyObject *uniforms(PyObject *self, PyObject *args) {
    unsigned long long seed, stream;
    PyObject *out;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "KKOn", &seed, &stream, &out, &count)) return NULL;
    Buf b[1] = {{0}};
    if (count < 0 || get_buffer(out, &b[0], 1, 8, count, "out") < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "uniforms: negative count");
        release(b, 1);
        return NULL;
    }
    double *o = (double *)b[0].view.buf;
    uint64_t state = stream_start(seed, stream);
    for (Py_ssize_t i = 0; i < count; i++) o[i] = (double)(splitmix_next(&state) >> 11) * 0x1.0p-53;
    release(b, 1);
    Py_RETURN_NONE;
}

/* multinomial(counts, n, draws, seed, stream, out): draws pixels with replacement from a
 * histogram of n colours (counts int64 (n,), every pixel equally likely) and writes to out
 * int64 (n,) how many draws fell on each colour: a multinomial sample, in O(n + draws).
 *
 * Pixel p (0 <= p < total) belongs to the colour i with cum[i - 1] <= p < cum[i] (cum: the
 * running sums of counts). Each draw is a uniform pixel; its colour is found from a table of
 * the first colour of each block of 2**shift pixels (blocks of about total / n pixels, so the
 * walk from there takes a step or two on average). Integer arithmetic throughout. */
static PyObject *multinomial(PyObject *self, PyObject *args) {
    PyObject *counts, *out;
    Py_ssize_t n, draws;
    unsigned long long seed, stream;
    if (!PyArg_ParseTuple(args, "OnnKKO", &counts, &n, &draws, &seed, &stream, &out)) return NULL;
    if (n < 1 || draws < 0) {
        PyErr_SetString(PyExc_ValueError, "multinomial: bad shape");
        return NULL;
    }
    Buf b[2] = {{0}};
    if (get_buffer(counts, &b[0], 0, 8, n, "counts") < 0 || get_buffer(out, &b[1], 1, 8, n, "out") < 0) {
        release(b, 2);
        return NULL;
    }
    const int64_t *c = (const int64_t *)b[0].view.buf;
    int64_t *o = (int64_t *)b[1].view.buf;
    uint64_t total = 0;
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (c[i] < 0) bad = 1;
        total += (uint64_t)c[i];
    }
    if (bad || total == 0 || total >= (1ULL << 62)) {
        release(b, 2);
        PyErr_SetString(PyExc_ValueError, "multinomial: counts must be non-negative with a positive sum");
        return NULL;
    }
    int shift = 0;
    while ((total >> shift) > (uint64_t)n) shift++;
    Py_ssize_t blocks = (Py_ssize_t)(total >> shift) + 1;
    uint64_t *cum = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)n);
    int64_t *first = (int64_t *)malloc(sizeof(int64_t) * (size_t)blocks);
    if (!cum || !first) {
        free(cum);
        free(first);
        release(b, 2);
        return PyErr_NoMemory();
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
    release(b, 2);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"nearest", nearest, METH_VARARGS, "Nearest centre, its squared distance and the runner-up's."},
    {"lloyd", lloyd, METH_VARARGS, "Weighted Lloyd passes with Hamerly's bounds; returns passes run."},
    {"cluster_sums", cluster_sums, METH_VARARGS, "Weighted mass and feature sums per cluster."},
    {"starts", starts, METH_VARARGS, "Several k-means++ + Lloyd fits of one point set."},
    {"settle", settle, METH_VARARGS, "Nearest centres from a previous assignment and its bounds."},
    {"grid_cells", grid_cells, METH_VARARGS, "The occupied cells of a regular grid over points: inverse and count."},
    {"uniforms", uniforms, METH_VARARGS, "Uniform numbers in [0, 1) of a seed and stream (SplitMix64)."},
    {"multinomial", multinomial, METH_VARARGS, "How many of a number of uniform pixel draws fall on each colour."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kmimg._engine", "kmimg's k-means inner loops.", -1, methods};

PyMODINIT_FUNC PyInit__engine(void) { return PyModule_Create(&module); }
