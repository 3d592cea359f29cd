/* kmimg._engine: one assignment step from the last one's bounds (Hamerly 2010, with Elkan's
 * centre-to-centre distances): each point keeps an upper bound on the distance to its centre
 * and a lower bound on the distance to any other, widened by how far the centres moved; only
 * the points whose bounds overlap are searched again, so the labels equal a full search's.
 * Used between Lloyd passes (_engine_lloyd.c) and, through settle(), after the palette is
 * rounded to 8-bit colours.
 */
#include "_engine.h"

void neighbours_free(Neighbours *nb) {
    free(nb->index);
    free(nb->dist);
    free(nb->beyond);
    free(nb->slack);
    free(nb->which);
    free(nb->cols);
    memset(nb, 0, sizeof(*nb));
}

/* Some rows of a neighbour list (each centre's row depends on the centres only): rows
 * which[start..stop), or (which NULL) rows start..stop-1. */
typedef struct {
    Neighbours *nb;
    const int32_t *which;
    Py_ssize_t m, start, stop;
    int dim, failed;
} NeighbourRows;

static void *neighbour_rows(void *arg) {
    NeighbourRows *r = (NeighbourRows *)arg;
    Neighbours *nb = r->nb;
    const double *cols = nb->cols;
    const Py_ssize_t m = r->m;
    const int dim = r->dim;
    /* the listed + 1 nearest, kept sorted by (distance, index) as they are found: the first
     * `listed` are the list, the next one's distance is `beyond` (the nearest not listed) */
    Py_ssize_t keep = nb->listed + 1;
    Keyed *keyed = (Keyed *)malloc(sizeof(Keyed) * (size_t)keep);
    double *squared = (double *)malloc(sizeof(double) * (size_t)m);
    if (!keyed || !squared) {
        free(keyed);
        free(squared);
        r->failed = 1;
        return NULL;
    }
    for (Py_ssize_t v = r->start; v < r->stop; v++) {
        const Py_ssize_t a = r->which ? r->which[v] : v;
        /* every squared distance from a, a column at a time (the compiler vectorizes it): the
         * same sums, 0 + s0^2 + s1^2 + ..., in the same order as a pair at a time */
        for (Py_ssize_t j = 0; j < m; j++) {
            double step = cols[a] - cols[j];
            squared[j] = step * step;
        }
        for (int d = 1; d < dim; d++) {
            const double *col = cols + (size_t)d * (size_t)m, own = col[a];
            for (Py_ssize_t j = 0; j < m; j++) {
                double step = own - col[j];
                squared[j] = squared[j] + step * step;
            }
        }
        Py_ssize_t count = 0;
        double worst = INFINITY; /* the last kept key, once `keep` are kept */
        for (Py_ssize_t j = 0; j < m; j++) {
            /* j rises, so among equal distances a later j sorts last: only a strictly smaller
             * distance moves ahead of a kept one */
            if (j == a || !(squared[j] < worst || count < keep)) continue;
            Keyed item = {squared[j], j}; /* squared: the same order, a root only for those kept */
            Py_ssize_t at = count < keep ? count++ : keep - 1;
            while (at > 0 && item.key < keyed[at - 1].key) {
                keyed[at] = keyed[at - 1];
                at--;
            }
            keyed[at] = item;
            if (count == keep) worst = keyed[keep - 1].key;
        }
        nb->beyond[a] = count > nb->listed ? sqrt(keyed[nb->listed].key) : INFINITY;
        for (Py_ssize_t s = 0; s < nb->listed; s++) {
            nb->index[(size_t)a * (size_t)nb->listed + (size_t)s] = (int32_t)keyed[s].index;
            nb->dist[(size_t)a * (size_t)nb->listed + (size_t)s] = sqrt(keyed[s].key);
        }
        nb->slack[a] = 0.0;
    }
    free(keyed);
    free(squared);
    return NULL;
}

/* Rows fewer than this are listed on one thread (a row: m distances and an insertion sort). */
#define MIN_LISTED_PIECE 64

/* The rows which[0..count) (which NULL: rows 0..count-1) listed again from the centres `rows`
 * (m, dim) float32, in index order, on up to `threads` threads; 0, or -1 when out of memory. */
static int list_rows(Neighbours *nb, const float *rows, Py_ssize_t m, int dim, const int32_t *which, Py_ssize_t count,
                     int threads) {
    for (Py_ssize_t j = 0; j < m; j++)
        for (int d = 0; d < dim; d++) nb->cols[(size_t)d * (size_t)m + (size_t)j] = (double)rows[(size_t)j * (size_t)dim + (size_t)d];
    Py_ssize_t pieces = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    if (pieces > count / MIN_LISTED_PIECE) pieces = count / MIN_LISTED_PIECE;
    if (pieces < 1) pieces = 1;
    NeighbourRows parts[MAX_THREADS];
    Py_ssize_t step = (count + pieces - 1) / pieces;
    for (Py_ssize_t v = 0; v < pieces; v++) {
        Py_ssize_t start = v * step, stop = start + step < count ? start + step : count;
        NeighbourRows part = {nb, which, m, start, stop, dim, 0};
        parts[v] = part;
    }
    in_parallel(neighbour_rows, parts, sizeof(NeighbourRows), pieces);
    for (Py_ssize_t v = 0; v < pieces; v++)
        if (parts[v].failed) return -1;
    return 0;
}

/* 0, or -1 when out of memory. rows: the centres (m, dim) float32, in index order; the rows
 * are split between up to `threads` threads. */
int neighbours_init(Neighbours *nb, const float *rows, Py_ssize_t m, int dim, int threads) {
    memset(nb, 0, sizeof(*nb));
    nb->listed = m - 1 < NEIGHBOURS ? m - 1 : NEIGHBOURS;
    size_t cells = (size_t)m * (size_t)(nb->listed > 0 ? nb->listed : 1);
    nb->index = (int32_t *)malloc(sizeof(int32_t) * cells);
    nb->dist = (double *)malloc(sizeof(double) * cells);
    nb->beyond = (double *)malloc(sizeof(double) * (size_t)m);
    nb->slack = (double *)malloc(sizeof(double) * (size_t)m);
    nb->which = (int32_t *)malloc(sizeof(int32_t) * (size_t)m);
    nb->cols = (double *)malloc(sizeof(double) * (size_t)m * (size_t)dim);
    if (!nb->index || !nb->dist || !nb->beyond || !nb->slack || !nb->which || !nb->cols ||
        list_rows(nb, rows, m, dim, NULL, m, threads) < 0) {
        neighbours_free(nb);
        return -1;
    }
    return 0;
}

/* The list carried over to centres that moved by move[j] (largest: the largest move): row a's
 * distances stay lower bounds once lowered by a's move and its listed neighbours' largest, and
 * `beyond` by a's move and the largest; a row lowered by more than CARRY_SLACK of its nearest
 * distance as listed is listed again instead (rows: the centres now, (m, dim) float32). 0, or
 * -1 when out of memory (nb is then freed). */
int neighbours_carry(Neighbours *nb, const float *rows, Py_ssize_t m, int dim, const double *move, double largest,
                     int threads) {
    Py_ssize_t stale = 0;
    const Py_ssize_t listed = nb->listed;
    for (Py_ssize_t a = 0; a < m; a++) {
        double *dist = nb->dist + (size_t)a * (size_t)listed;
        const int32_t *index = nb->index + (size_t)a * (size_t)listed;
        double most = 0.0;
        for (Py_ssize_t s = 0; s < listed; s++) most = move[index[s]] > most ? move[index[s]] : most;
        double lower = move[a] + most;
        nb->slack[a] += lower;
        if (!(nb->slack[a] <= CARRY_SLACK * (dist[0] + nb->slack[a] - lower))) {
            nb->which[stale++] = (int32_t)a;
            continue;
        }
        /* lowered, and none above `beyond` (the list stays in order, every centre not listed
         * is at least as far as the last listed, as in a new list) */
        nb->beyond[a] -= move[a] + largest;
        for (Py_ssize_t s = 0; s < listed; s++) {
            double bound = dist[s] - lower;
            dist[s] = bound < nb->beyond[a] ? bound : nb->beyond[a];
        }
    }
    if (stale && list_rows(nb, rows, m, dim, nb->which, stale, threads) < 0) {
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

Moves moves_of(const double *move, Py_ssize_t m, double largest) {
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

/* One Hamerly step for points start..stop-1 (see refresh_all); returns how many were searched.
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
void refresh_all(const Centers *c, const float *rows, const float *x, int64_t *lab, double *up, double *low,
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

/* half[j] = half the distance from centre j to its nearest other centre (Hamerly's s(j)):
 * a point within that of its own centre has no nearer one. Shrunk by a relative 1e-9 so that
 * rounding never makes it larger than it is. */
void half_gaps(const double *centers, Py_ssize_t m, int dim, double *half) {
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

/* From a neighbour list: Hamerly's s(j), half the distance to the nearest other centre (shrunk
 * a little: never too large), and each centre's largest move among its listed neighbours. */
void neighbour_moves(const Neighbours *nb, const double *move, Py_ssize_t m, double *half, double *near_move) {
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

/* settle(points, n, dim, centers, m, move, labels, up, low, margin, threads)
 *
 * The nearest of the centers float32 (m, dim) for every point of points float32 (n, dim), given
 * an earlier answer: labels[i] a centre, up[i] >= the point's distance to where that centre was
 * and low[i] <= its distance to where any other was, and move[j] >= how far centre j has moved
 * since (all in feature units, not squared), as between two Lloyd passes: Hamerly's test with
 * the neighbour-local bounds of lloyd() settles most points, the others are searched. labels,
 * up and low receive the exact nearest (the lowest index on a tie), as a full search gives it,
 * with bounds for these centres. */
PyObject *py_settle(PyObject *self, PyObject *args) {
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
    if (buffer_get(points, &b[0], 0, 4 * dim, n, "points") < 0 || buffer_get(centers, &b[1], 0, 4 * dim, m, "centers") < 0 ||
        buffer_get(moves, &b[2], 0, 8, m, "move") < 0 || buffer_get(labels, &b[3], 1, 8, n, "labels") < 0 ||
        buffer_get(up, &b[4], 1, 8, n, "up") < 0 || buffer_get(low, &b[5], 1, 8, n, "low") < 0) {
        return buffers_done(b, 6, NULL);
    }
    const float *x = (const float *)b[0].view.buf, *rows = (const float *)b[1].view.buf;
    const double *move = (const double *)b[2].view.buf;
    int64_t *lab = (int64_t *)b[3].view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (lab[i] < 0 || lab[i] >= m) {
            PyErr_SetString(PyExc_ValueError, "settle: label out of range");
            return buffers_done(b, 6, NULL);
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
    return buffers_done(b, 6, failed ? PyErr_NoMemory() : Py_NewRef(Py_None));
}
