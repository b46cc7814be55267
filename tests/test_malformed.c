/* Malformed ONNX files: each gives the status and message tests/data/malformed/expected.txt
 * names, through the library and through the CLI (exit code 2, one line on stderr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "onnx/onnx_import.h"

static const char *data_dir, *cli_path;

typedef struct {
    char file[128], status[32], fragment[256];
} malformed_case;

static snn_status status_from_name(const char *s)
{
    if (strcmp(s, "format") == 0) return SNN_ERR_FORMAT;
    if (strcmp(s, "invalid") == 0) return SNN_ERR_INVALID;
    if (strcmp(s, "unsupported") == 0) return SNN_ERR_UNSUPPORTED;
    if (strcmp(s, "limit") == 0) return SNN_ERR_LIMIT;
    if (strcmp(s, "io") == 0) return SNN_ERR_IO;
    return SNN_OK;
}

static void test_case(void **state)
{
    const malformed_case *c = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data_dir, c->file);
    snn_graph g;
    snn_diag diag;
    snn_status st = snn_onnx_load_file(path, NULL, &g, &diag);
    if (!strstr(diag.msg, c->fragment))
        print_error("%s: message '%s' lacks '%s'\n", c->file, diag.msg, c->fragment);
    assert_int_equal(st, status_from_name(c->status));
    assert_non_null(strstr(diag.msg, c->fragment));
    /* The graph is left empty and freeable after a failure. */
    assert_int_equal(g.n_nodes, 0);
    snn_graph_free(&g);

    /* The CLI: exit code 2 and the message, never a crash. */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "'%s' info '%s' 2>&1", cli_path, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[2048] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 2);
    assert_non_null(strstr(out, c->fragment));
    assert_non_null(strstr(out, c->file));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_malformed DATA_DIR ANN2SNN\n");
        return 2;
    }
    data_dir = argv[1];
    cli_path = argv[2];
    char path[512];
    snprintf(path, sizeof path, "%s/expected.txt", data_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 2;
    }
    static malformed_case cases[64];
    static struct CMUnitTest tests[64];
    size_t n = 0;
    char line[600];
    while (fgets(line, sizeof line, f) && n < 64) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *a = strtok(line, "\t"), *b = strtok(NULL, "\t"), *c = strtok(NULL, "\t");
        if (!a || !b || !c)
            continue;
        snprintf(cases[n].file, sizeof cases[n].file, "%s", a);
        snprintf(cases[n].status, sizeof cases[n].status, "%s", b);
        snprintf(cases[n].fragment, sizeof cases[n].fragment, "%s", c);
        tests[n] = (struct CMUnitTest){cases[n].file, test_case, NULL, NULL, &cases[n]};
        n++;
    }
    fclose(f);
    if (n < 10) {
        fprintf(stderr, "expected.txt lists only %zu cases\n", n);
        return 2;
    }
    return _cmocka_run_group_tests("malformed-onnx", tests, n, NULL, NULL);
}
