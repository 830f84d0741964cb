/*
 * egress-peercred: prints the credentials of the peer of the Unix socket on fd 3 (SO_PEERCRED, set by the kernel
 * at connect time: what the peer cannot forge) as "PID UID GID\n". The supervisor passes each accepted connection
 * to it, since Node.js has no getsockopt. Exit 1 with a message on stderr when fd 3 is not a connected socket.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/socket.h>

int main(void)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(3, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
		perror("egress-peercred: getsockopt(SO_PEERCRED) on fd 3");
		return 1;
	}
	printf("%d %u %u\n", (int)cred.pid, (unsigned)cred.uid, (unsigned)cred.gid);
	return 0;
}
