/*
 * client/ctl/cmd_local.c - the offline commands: snapshot status, snapshot
 * restore, defrag --data-dir. They work on cairn's files (an LMDB copy of
 * the MVCC store with etcd's SHA-256 trailer), not on etcd's bbolt files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/ctl/ctl.h"

int ctl_defrag_data_dir(const char *dir)
{
	(void)dir;
	ctl_fail(EXIT_ERROR, "%s", "defrag --data-dir: not supported yet");
}

int cmd_snapshot_status(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	ctl_fail(EXIT_ERROR, "%s", "snapshot status: not supported yet");
}

int cmd_snapshot_restore(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	ctl_fail(EXIT_ERROR, "%s", "snapshot restore: not supported yet");
}
