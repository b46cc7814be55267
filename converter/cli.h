/* Shared by the ann2snn subcommands. Only the CLIs print. */
#ifndef ANN2SNN_CLI_H
#define ANN2SNN_CLI_H

#include "diag.h"

/* Exit codes of every tool. */
enum { EXIT_RUN_FAILED = 1, EXIT_BAD_INPUT = 2 };

/* "ann2snn: FILE: message" on stderr; returns the exit code the status maps to. */
int cli_report(const char *file, snn_status st, const snn_diag *diag);
/* Parse a float option argument; prints and returns false on garbage. */
int cli_parse_float(const char *opt, const char *arg, float *out);
int cli_parse_long(const char *opt, const char *arg, long long min, long long max, long long *out);

int cmd_infer(int argc, char **argv);
int cmd_accuracy(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif
