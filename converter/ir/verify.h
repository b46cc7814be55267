#ifndef ANN2SNN_VERIFY_H
#define ANN2SNN_VERIFY_H

#include "graph.h"

/* Check every invariant the evaluator relies on: indices in range, each tensor produced
 * once, producers before consumers, shapes known and consistent with each op. */
snn_status snn_graph_verify(const snn_graph *g, snn_diag *diag);

#endif
