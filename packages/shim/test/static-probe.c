/*
 * A statically linked probe for the `run` end-to-end tests: the LD_PRELOAD shim cannot apply to it, only the
 * cgroup can. Asks the lab's whoami service which source address it saw and prints it.
 * Usage: static-probe HOST PORT tcp|udp   (numeric IPv4 or IPv6 host; exit 0 and one line, or exit 1 and a reason)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: static-probe HOST PORT tcp|udp\n");
    return 2;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  int port = atoi(argv[2]);
  if (inet_pton(AF_INET, argv[1], &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((unsigned short)port);
    len = sizeof *s4;
  } else if (inet_pton(AF_INET6, argv[1], &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((unsigned short)port);
    len = sizeof *s6;
  } else {
    fprintf(stderr, "static-probe: '%s' is not a numeric address\n", argv[1]);
    return 2;
  }
  int udp = strcmp(argv[3], "udp") == 0;
  int fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
  char buf[256];
  ssize_t n = 0;
  if (!udp) {
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
      fprintf(stderr, "static-probe: connect: %s\n", strerror(errno));
      return 1;
    }
    size_t got = 0;
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    n = (ssize_t)got;
  } else {
    for (int attempt = 0; attempt < 10; attempt++) {
      if (sendto(fd, "whoami\n", 7, 0, (struct sockaddr *)&ss, len) < 0) {
        fprintf(stderr, "static-probe: sendto: %s\n", strerror(errno));
        return 1;
      }
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, 500) == 1) {
        n = recv(fd, buf, sizeof buf - 1, 0);
        break;
      }
    }
  }
  if (n <= 0) {
    fprintf(stderr, "static-probe: no answer\n");
    return 1;
  }
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  printf("%s\n", buf);
  return 0;
}
