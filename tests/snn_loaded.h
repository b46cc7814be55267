/* For the cmocka tests (include after cmocka.h): a converted net as the runtime sees it —
 * serialised bytes, the loaded model and a ready state. */
#ifndef ANN2SNN_SNN_LOADED_H
#define ANN2SNN_SNN_LOADED_H

#include <stdlib.h>

#include "snn_net.h"
#include "snn_runtime.h"

typedef struct {
    uint8_t *buf;
    size_t len;
    snn_model *m;
    void *mem;
    snn_state s;
} loaded;

static void load_net(const snn_net *net, loaded *l)
{
    snn_diag d;
    assert_int_equal(snn_net_serialize(net, &l->buf, &l->len, &d), SNN_OK);
    l->m = malloc(sizeof *l->m);
    snn_rt_diag rd;
    snn_rt_status st = snn_model_load(l->m, l->buf, l->len, &rd);
    if (st != SNN_RT_OK)
        print_error("%s\n", rd.msg);
    assert_int_equal(st, SNN_RT_OK);
    size_t ms = snn_state_mem_size(l->m);
    l->mem = malloc(ms);
    assert_int_equal(snn_state_init(&l->s, l->m, l->mem, ms), SNN_RT_OK);
}

static void unload(loaded *l)
{
    free(l->mem);
    free(l->m);
    free(l->buf);
}

#endif
