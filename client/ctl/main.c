/*
 * client/ctl/main.c - cairnctl: an etcdctl 3.4 compatible command line for
 * cairn (and etcd). Everything lives in ctl_main() (client/ctl/ctl.c).
 */
#include "client/ctl/ctl.h"

int main(int argc, char **argv)
{
	return ctl_main(argc, argv);
}
