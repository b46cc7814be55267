/* Classify one raw image with a .snn file: the smallest program on the runtime.
 *   cc example_app.c $(pkg-config --cflags --libs ann2snn-runtime) -o example_app
 *   ./example_app model.snn image.raw       (image.raw: input_size bytes, uint8) */
#include <snn_runtime.h>
#include <stdio.h>
#include <stdlib.h>

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    void *buf = malloc(*len ? *len : 1); /* malloc'd memory is aligned enough */
    if (buf && fread(buf, 1, *len, f) != *len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.snn IMAGE.raw\n", argv[0]);
        return 2;
    }
    size_t len, img_len;
    void *file = read_file(argv[1], &len);
    unsigned char *img = read_file(argv[2], &img_len);
    static snn_model m; /* large: keep it off the stack */
    snn_rt_diag diag;
    if (!file || !img || snn_model_load(&m, file, len, &diag) != SNN_RT_OK || img_len != m.input_size) {
        fprintf(stderr, "cannot load: %s\n", file && img ? diag.msg : "missing file");
        return 2;
    }
    size_t mem_size = snn_state_mem_size(&m);
    void *mem = malloc(mem_size);
    float *x = malloc(m.input_size * sizeof *x);
    snn_state s;
    snn_state_init(&s, &m, mem, mem_size);
    snn_preprocess_u8(&m, img, x);
    snn_state_begin(&s, x, m.coding, 1);
    for (uint32_t t = 0; t < m.steps; t++)
        snn_state_step(&s);
    printf("class %d\n", snn_state_predict(&s));
    free(x);
    free(mem);
    free(img);
    free(file);
    return 0;
}
