/* kmimg._engine: the inner loops of kmimg's k-means engine (kmimg/colorfit.py), in C.
 *
 * One extension module built from the files listed in _engine.h (one per algorithm); this one
 * holds the module's table of functions and the helper that runs independent pieces of work on
 * threads. The contract every function keeps (the same bits as the numpy code it replaced,
 * whatever the number of threads) is stated in _engine.h.
 */
#include "_engine.h"
#ifndef _WIN32
#include <pthread.h>
#endif

/* fn(items + v * size) for v in [0, count): item 0 on the calling thread, the others on threads
 * of their own (inline when no thread can be had). The items must be independent: the result is
 * then the same whatever the count. */
void in_parallel(void *(*fn)(void *), void *items, size_t size, Py_ssize_t count) {
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

static PyMethodDef methods[] = {
    {"nearest", py_nearest, METH_VARARGS, "Nearest centre, its squared distance and the runner-up's."},
    {"lloyd", py_lloyd, METH_VARARGS, "Weighted Lloyd passes with Hamerly's bounds; returns passes run."},
    {"cluster_sums", py_cluster_sums, METH_VARARGS, "Weighted mass and feature sums per cluster."},
    {"starts", py_starts, METH_VARARGS, "Several k-means++ + Lloyd fits of one point set."},
    {"settle", py_settle, METH_VARARGS, "Nearest centres from a previous assignment and its bounds."},
    {"grid_cells", py_grid_cells, METH_VARARGS, "The occupied cells of a regular grid over points: inverse and count."},
    {"key_runs", py_key_runs, METH_VARARGS, "Distinct keys in ascending order, their counts and each key's rank."},
    {"uniforms", py_uniforms, METH_VARARGS, "Uniform numbers in [0, 1) of a seed and stream (SplitMix64)."},
    {"multinomial", py_multinomial, METH_VARARGS, "How many of a number of uniform pixel draws fall on each colour."},
    {"small_fit", py_small_fit, METH_VARARGS, "A small colour table's whole fit: palette, labels, counts."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "kmimg._engine", "kmimg's k-means inner loops.", -1, methods};

PyMODINIT_FUNC PyInit__engine(void) { return PyModule_Create(&module); }
