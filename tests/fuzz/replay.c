/* Runs a fuzz target over files and directories of files (in name order), as regression
 * tests: exit 0 when every input was handled, whatever its verdict; a crash fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: cannot open\n", path);
        return 0;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    for (size_t n; buf && (n = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += n;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return 0;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    long done = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: not found\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            done += run_file(argv[i]);
            continue;
        }
        struct dirent **list;
        int n = scandir(argv[i], &list, NULL, alphasort);
        if (n < 0)
            return 2;
        char **names = malloc((size_t)n * sizeof *names);
        int m = 0;
        for (int k = 0; k < n; k++) {
            if (list[k]->d_name[0] != '.') {
                size_t len = strlen(argv[i]) + strlen(list[k]->d_name) + 2;
                names[m] = malloc(len);
                snprintf(names[m++], len, "%s/%s", argv[i], list[k]->d_name);
            }
            free(list[k]);
        }
        free(list);
        for (int k = 0; k < m; k++) {
            done += run_file(names[k]);
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %ld inputs\n", done);
    return done > 0 ? 0 : 1;
}
