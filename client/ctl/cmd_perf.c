/*
 * client/ctl/cmd_perf.c - check perf.
 */
#include "client/ctl/ctl.h"

int cmd_check_perf(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	ctl_fail(EXIT_ERROR, "%s", "check perf: not supported yet");
}
