/* kmimg._engine: the nearest centre of a point, exactly (the lowest index on a tie) and fast.
 *
 * Two searches give a full scan's answer: the centres sorted by their projection on the axis of
 * largest spread (any number of dimensions), and, for a range of many points in 1 to 4
 * dimensions, candidate lists per cell of a grid over the points. The inner loops of both
 * (nearest_one, cells_nearest) are in _engine.h, where every search path inlines them.
 */
#include "_engine.h"

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

void centers_free(Centers *c) {
    free(c->rows);
    free(c->proj);
    free(c->index);
    free(c->where);
}

int centers_init(Centers *c, const float *rows, Py_ssize_t m, int dim) {
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

static int cells_base(int dim) {
    switch (dim) {
        case 1: return 256;
        case 2: return 16;
        case 3: return 8;
        case 4: return 4;
        default: return 0; /* no cell lists: the projection search */
    }
}

void cells_free(Cells *g) {
    for (int l = 0; l < LEVELS; l++) {
        free(g->level[l].first);
        free(g->level[l].count);
    }
    free(g->items);
    free(g->all);
    free(g->near);
}

/* 0: lists ready; 1: not worth it here (use the projection search); -1: out of memory. */
int cells_init(Cells *g, const float *rows, Py_ssize_t m, int dim, const float *x, Py_ssize_t start,
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
const int32_t *cells_list(Cells *g, const int coord[MAX_DIM], int32_t *count) {
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

/* Points [start, stop) by a scan of every centre (rows, (m, dim), in index order): the labels,
 * distances and runner-ups (run NULL: not wanted) of the search below. */
static void scan_range(const float *x, const float *rows, Py_ssize_t m, int dim, int64_t *lab, float *top, float *run,
                       Py_ssize_t start, Py_ssize_t stop) {
    for (Py_ssize_t i = start; i < stop; i++) {
        Nearest found = scan_nearest(x + (size_t)i * (size_t)dim, rows, m, dim);
        lab[i] = found.label;
        top[i] = found.best;
        if (run) run[i] = found.second;
    }
}

/* nearest(points, centers, dim, labels, best, second, start, stop)
 * points float32 (n, dim), centers float32 (m, dim); writes labels int64, best and second
 * float32 for the points start..stop-1 (second may be None). */
PyObject *py_nearest(PyObject *self, PyObject *args) {
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
    if (buffer_get(points, &b[0], 0, 4 * dim, n, "points") < 0 || buffer_get(centers, &b[1], 0, 4 * dim, m, "centers") < 0 ||
        buffer_get(labels, &b[2], 1, 8, n, "labels") < 0 || buffer_get(best, &b[3], 1, 4, n, "best") < 0 ||
        (want_second && buffer_get(second, &b[4], 1, 4, n, "second") < 0)) {
        return buffers_done(b, 5, NULL);
    }
    const float *x = (const float *)b[0].view.buf;
    int64_t *lab = (int64_t *)b[2].view.buf;
    float *top = (float *)b[3].view.buf;
    float *run = want_second ? (float *)b[4].view.buf : NULL;
    if (bounded_scan(stop - start, m)) { /* a plain scan: no search structures to build */
        Py_BEGIN_ALLOW_THREADS
        scan_range(x, (const float *)b[1].view.buf, m, dim, lab, top, run, start, stop);
        Py_END_ALLOW_THREADS
        return buffers_done(b, 5, Py_NewRef(Py_None));
    }
    Centers c;
    if (centers_init(&c, (const float *)b[1].view.buf, m, dim) < 0) return buffers_done(b, 5, PyErr_NoMemory());
    Cells g;
    int lists = cells_init(&g, (const float *)b[1].view.buf, m, dim, x, start, stop), ok = 1;
    if (lists < 0) {
        centers_free(&c);
        return buffers_done(b, 5, PyErr_NoMemory());
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
    if (!ok) return buffers_done(b, 5, PyErr_NoMemory());
    return buffers_done(b, 5, Py_NewRef(Py_None));
}
