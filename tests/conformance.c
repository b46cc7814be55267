/* ONNX backend conformance: walks ONNX's own node tests (Debian libonnx-testdata) and runs
 * every test whose ops are all ones ann2snn imports, comparing each output with ONNX's
 * expected output (|got - want| <= atol + rtol * |want|, rtol 1e-3, atol 1e-5).
 *
 * Each test ends PASS, REFUSED (a clear "unsupported" error) or FAIL. Refusals are expected
 * only for the tests listed in the refused-list file; an unlisted refusal or a listed test
 * that passes is a failure too, so the list stays true.
 *
 * Usage: conformance TESTDATA_DIR REFUSED_LIST [--all]
 * The same runner checks our own PyTorch-made op tests (tests/data/ops, with --all). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ir/op_info.h"
#include "onnx/pb_session.h"

/* A test runs when every op it uses is a RUN row of the op table (ir/ops.def), or Constant
 * (which the importer folds); FOLD ops are shape arithmetic, not tested on their own. */
static bool op_supported(const char *name)
{
    if (strcmp(name, "Constant") == 0)
        return true;
    snn_op op;
    return snn_op_from_name(name, &op) && snn_op_info_of(op)->role == SNN_OP_ROLE_RUN;
}

static bool all_supported(const char *ops)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", ops);
    bool any_main = false;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!op_supported(tok))
            return false;
        any_main |= strcmp(tok, "Constant") != 0;
    }
    return any_main;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Compare our outputs with the set's output_K.pb files; fills why on mismatch. */
static bool compare_outputs(const snn_pb_session *s, const char *set, char *why, size_t cap)
{
    const snn_graph *g = &s->graph;
    for (int k = 0; k < g->n_outputs; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/output_%d.pb", set, k);
        snn_tensor_file want;
        snn_diag d;
        if (snn_tensorproto_read_file(path, &want, &d) != SNN_OK) {
            snprintf(why, cap, "cannot read output_%d.pb: %.400s", k, d.msg);
            return false;
        }
        const snn_tensor *t = &g->tensors[g->outputs[k]];
        bool ok = want.rank == t->rank && want.dtype == SNN_DTYPE_FLOAT;
        for (int i = 0; ok && i < t->rank; i++)
            ok = want.dims[i] == t->dims[i];
        if (!ok) {
            snprintf(why, cap, "output %d: shape or type differs from the expected", k);
            snn_tensor_file_free(&want);
            return false;
        }
        const float *got = snn_eval_output(&s->eval, k), *exp = want.data;
        int64_t n = snn_tensor_numel(t);
        for (int64_t i = 0; i < n; i++) {
            bool close = fabsf(got[i] - exp[i]) <= 1e-5f + 1e-3f * fabsf(exp[i]) ||
                         (isnan(got[i]) && isnan(exp[i])) || got[i] == exp[i];
            if (!close) {
                snprintf(why, cap, "output %d[%lld]: got %g, expected %g", k, (long long)i,
                         (double)got[i], (double)exp[i]);
                snn_tensor_file_free(&want);
                return false;
            }
        }
        snn_tensor_file_free(&want);
    }
    return true;
}

typedef enum { RES_PASS, RES_REFUSED, RES_FAIL } result;

static result run_test(const char *dir, char *why, size_t cap)
{
    char model[4200];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    int sets = 0;
    {
        /* The model first: its input types decide whether the .pb inputs are tensors at all. */
        char *names[16] = {NULL};
        int count = 0;
        snn_diag d;
        snn_status st = snn_onnx_input_names(model, names, 16, &count, &d);
        for (int i = 0; i < 16; i++)
            free(names[i]);
        if (st != SNN_OK) {
            snprintf(why, cap, "%s", d.msg);
            return st == SNN_ERR_UNSUPPORTED ? RES_REFUSED : RES_FAIL;
        }
    }
    for (int si = 0;; si++) {
        char set[4200];
        snprintf(set, sizeof set, "%s/test_data_set_%d", dir, si);
        if (!exists(set))
            break;
        snn_tensor_file in[16];
        int n_in = 0;
        snn_diag d;
        snn_diag_clear(&d);
        for (; n_in < 16; n_in++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/input_%d.pb", set, n_in);
            if (!exists(path))
                break;
            snn_status st = snn_tensorproto_read_file(path, &in[n_in], &d);
            if (st != SNN_OK) {
                for (int i = 0; i < n_in; i++)
                    snn_tensor_file_free(&in[i]);
                snprintf(why, cap, "%s", d.msg);
                return st == SNN_ERR_UNSUPPORTED ? RES_REFUSED : RES_FAIL;
            }
        }
        snn_pb_session s;
        snn_status st = snn_pb_session_run(model, in, n_in, true, &s, &d);
        for (int i = 0; i < n_in; i++)
            snn_tensor_file_free(&in[i]);
        if (st != SNN_OK) {
            snprintf(why, cap, "%s", d.msg[0] ? d.msg : snn_status_name(st));
            return st == SNN_ERR_UNSUPPORTED ? RES_REFUSED : RES_FAIL;
        }
        bool ok = compare_outputs(&s, set, why, cap);
        snn_pb_session_free(&s);
        if (!ok)
            return RES_FAIL;
        sets++;
    }
    if (sets == 0) {
        snprintf(why, cap, "no test_data_set_0");
        return RES_FAIL;
    }
    return RES_PASS;
}

static bool listed(char **list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    /* --all: every test must run (our own op tests, tests/data/ops): a test skipped for an
     * op we do not import fails instead. */
    bool run_all = argc == 4 && strcmp(argv[3], "--all") == 0;
    if (argc != 3 && !run_all) {
        fprintf(stderr, "usage: conformance TESTDATA_DIR REFUSED_LIST [--all]\n");
        return 2;
    }
    /* Expected refusals: one test name per line, '#' comments. */
    char *refused[512];
    int n_refused = 0;
    FILE *lf = fopen(argv[2], "r");
    if (!lf) {
        fprintf(stderr, "conformance: cannot open %s\n", argv[2]);
        return 2;
    }
    char line[512];
    while (fgets(line, sizeof line, lf) && n_refused < 512) {
        line[strcspn(line, " \t\r\n#")] = '\0';
        if (line[0])
            refused[n_refused++] = strdup(line);
    }
    fclose(lf);

    DIR *dir = opendir(argv[1]);
    if (!dir) {
        fprintf(stderr, "conformance: cannot open %s (install libonnx-testdata)\n", argv[1]);
        return 2;
    }
    char **names = NULL;
    int n_names = 0, cap = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (strncmp(e->d_name, "test_", 5) != 0)
            continue;
        if (n_names == cap) {
            cap = cap ? cap * 2 : 256;
            names = realloc(names, (size_t)cap * sizeof *names);
        }
        names[n_names++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n_names, sizeof *names, cmp_names);

    int passed = 0, refused_ok = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_names; i++) {
        char path[4400], ops[4096];
        snprintf(path, sizeof path, "%s/%s/model.onnx", argv[1], names[i]);
        snn_diag d;
        if (snn_onnx_op_types(path, ops, sizeof ops, &d) != SNN_OK || !all_supported(ops)) {
            skipped++;
            if (run_all) {
                failed++;
                printf("FAIL     %s: not run: uses ops %s\n", names[i], ops);
            }
            continue;
        }
        char why[600] = "";
        char tdir[4200];
        snprintf(tdir, sizeof tdir, "%s/%s", argv[1], names[i]);
        result r = run_test(tdir, why, sizeof why);
        bool expect_refusal = listed(refused, n_refused, names[i]);
        if (r == RES_PASS && !expect_refusal) {
            passed++;
            printf("PASS     %s\n", names[i]);
        } else if (r == RES_REFUSED && expect_refusal) {
            refused_ok++;
            printf("REFUSED  %s: %s\n", names[i], why);
        } else {
            failed++;
            printf("FAIL     %s: %s%s\n", names[i],
                   r == RES_PASS ? "passes but is listed as refused" : why,
                   r == RES_REFUSED ? " (refused but not listed as refused)" : "");
        }
    }
    for (int i = 0; i < n_refused; i++) {
        bool seen = false;
        for (int k = 0; k < n_names && !seen; k++)
            seen = strcmp(names[k], refused[i]) == 0;
        if (!seen) {
            failed++;
            printf("FAIL     %s: listed as refused but not in the test data\n", refused[i]);
        }
    }
    printf("\nconformance: %d passed, %d refused (expected), %d failed; %d tests of other ops skipped\n",
           passed, refused_ok, failed, skipped);
    printf("%d passed, %d failed\n", passed + refused_ok, failed);
    for (int i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    for (int i = 0; i < n_refused; i++)
        free(refused[i]);
    return failed ? 1 : 0;
}
