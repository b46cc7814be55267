/* Convert an ONNX model into a .snn file with libann2snn: the smallest program on the converter
 * library (calibration without data; give samples in an ann2snn_samples for the best SNN).
 *   cc example_convert.c $(pkg-config --cflags --libs ann2snn) -o example_convert
 *   ./example_convert model.onnx model.snn [OPTION=VALUE ...]     (e.g. precision=int8) */
#include <ann2snn/ann2snn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.onnx OUT.snn [OPTION=VALUE ...]\n", argv[0]);
        return 2;
    }
    ann2snn_diag diag;
    ann2snn_options opts;
    ann2snn_options_init(&opts);
    for (int i = 3; i < argc; i++) { /* the command line's option names: precision=int8, burst=2 */
        char name[64];
        const char *eq = strchr(argv[i], '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - argv[i]) : (int)strlen(argv[i]), argv[i]);
        if (ann2snn_options_set(&opts, name, eq ? eq + 1 : NULL, &diag) != ANN2SNN_OK) {
            fprintf(stderr, "%s\n", diag.message);
            return 2;
        }
    }
    ann2snn_model *model;
    ann2snn_status st = ann2snn_model_load_file(argv[1], &model, &diag);
    if (st != ANN2SNN_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], diag.message);
        return 1;
    }
    ann2snn_result res;
    st = ann2snn_convert(model, NULL, &opts, &res, &diag);
    ann2snn_model_free(model);
    if (st != ANN2SNN_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], diag.message);
        return 1;
    }
    fputs(res.notes, stderr);
    st = ann2snn_write_file(argv[2], res.bytes, res.size, &diag);
    if (st == ANN2SNN_OK)
        printf("%s: %s\n", argv[2], res.summary);
    else
        fprintf(stderr, "%s: %s\n", argv[2], diag.message);
    ann2snn_result_free(&res);
    return st == ANN2SNN_OK ? 0 : 1;
}
