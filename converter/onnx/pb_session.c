#include "pb_session.h"

#include <stdlib.h>
#include <string.h>

void snn_pb_session_free(snn_pb_session *s)
{
    snn_eval_free(&s->eval);
    snn_graph_free(&s->graph);
}

snn_status snn_pb_session_run(const char *model, const snn_tensor_file *inputs, int n_inputs,
                              bool optimize, snn_pb_session *s, snn_diag *diag)
{
    memset(s, 0, sizeof *s);
    snn_graph_init(&s->graph);
    snn_diag_clear(diag);
    int n = n_inputs > 0 ? n_inputs : 1;
    char **names = calloc((size_t)n, sizeof *names);
    snn_input_binding *bind = calloc((size_t)n, sizeof *bind);
    const float **feeds = calloc((size_t)n, sizeof *feeds);
    snn_status st = SNN_OK;
    if (!names || !bind || !feeds) {
        st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    int count = 0;
    st = snn_onnx_input_names(model, names, n_inputs, &count, diag);
    if (st != SNN_OK)
        goto done;
    if (count != n_inputs) {
        st = snn_diag_set(diag, SNN_ERR_INVALID, "the model has %d inputs, %d were given", count,
                          n_inputs);
        goto done;
    }
    for (int i = 0; i < n_inputs; i++) {
        bind[i].name = names[i];
        bind[i].dtype = inputs[i].dtype;
        bind[i].rank = inputs[i].rank;
        memcpy(bind[i].dims, inputs[i].dims, sizeof bind[i].dims);
        bind[i].data = inputs[i].dtype == SNN_DTYPE_INT64 ? inputs[i].data : NULL;
    }
    snn_import_options io;
    snn_import_options_init(&io);
    io.optimize = optimize;
    io.bindings = bind;
    io.n_bindings = n_inputs;
    st = snn_onnx_load_file(model, &io, &s->graph, diag);
    if (st != SNN_OK)
        goto done;
    const snn_graph *g = &s->graph;
    for (int k = 0; k < g->n_inputs; k++) {
        const char *iname = g->tensors[g->inputs[k]].name;
        for (int i = 0; i < n_inputs; i++)
            if (strcmp(names[i], iname) == 0)
                feeds[k] = inputs[i].data;
    }
    st = snn_eval_init(&s->eval, g, diag);
    if (st == SNN_OK)
        st = snn_eval_run(&s->eval, feeds, diag);
done:
    for (int i = 0; names && i < n_inputs; i++)
        free(names[i]);
    free(names);
    free(bind);
    free(feeds);
    if (st != SNN_OK)
        snn_pb_session_free(s);
    return st;
}
