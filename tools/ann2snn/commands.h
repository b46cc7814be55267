/* The ann2snn subcommands, one file each (cmd_<name>.c); main.c dispatches to them.
 * Each takes argv from the subcommand's name on and returns the process exit code. */
#ifndef ANN2SNN_COMMANDS_H
#define ANN2SNN_COMMANDS_H

int cmd_convert(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_accuracy(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export_c(int argc, char **argv);

#endif
