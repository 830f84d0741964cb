// The least a native SOCKS5 relay can do (the bench's native floor for `egress-client proxy`, beside socks-floor.mjs):
// no-auth, CONNECT to an IPv4 address only, the upstream bound to the tunnel address, one thread per connection,
// TCP_NODELAY on both sockets, bytes moved with splice(2) through a pipe. No checks, no accounting. What socks-floor.mjs
// measures above this is the cost of a Node relay; what this measures above run-as is the cost of any SOCKS hop here.
// Build: gcc -O2 -o socks-floor socks-floor.c -lpthread. Usage: socks-floor PORT BIND_ADDRESS (READY on stderr).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct in_addr bind_addr;

static int read_full(int fd, unsigned char *b, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void *conn(void *arg) {
  int c = (int)(long)arg, o = -1, one = 1, p[2] = {-1, -1};
  unsigned char b[262];
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (read_full(c, b, 2) || read_full(c, b + 2, b[1])) goto done;
  if (write(c, "\x05\x00", 2) != 2) goto done;
  if (read_full(c, b, 10) || b[0] != 5 || b[1] != 1 || b[3] != 1) goto done;
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = bind_addr}, dst = {.sin_family = AF_INET};
  memcpy(&dst.sin_addr, b + 4, 4);
  memcpy(&dst.sin_port, b + 8, 2);
  o = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(o, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (o < 0 || bind(o, (struct sockaddr *)&src, sizeof src) || connect(o, (struct sockaddr *)&dst, sizeof dst)) goto done;
  if (write(c, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10) != 10) goto done;
  if (pipe2(p, 0)) goto done;
  struct pollfd f[2] = {{.fd = c, .events = POLLIN}, {.fd = o, .events = POLLIN}};
  int open_dirs = 2;
  while (open_dirs > 0 && poll(f, 2, -1) > 0) {
    for (int i = 0; i < 2; i++) {
      if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = f[i].fd, to = i == 0 ? o : c;
      ssize_t n = splice(from, NULL, p[1], NULL, 1 << 16, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) {
        shutdown(to, SHUT_WR);
        f[i].fd = -1;
        open_dirs--;
        if (n < 0) open_dirs = 0;
        continue;
      }
      while (n > 0) {
        ssize_t w = splice(p[0], NULL, to, NULL, (size_t)n, SPLICE_F_MOVE);
        if (w <= 0) goto done;
        n -= w;
      }
    }
  }
done:
  if (p[0] >= 0) close(p[0]), close(p[1]);
  if (o >= 0) close(o);
  close(c);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3 || inet_pton(AF_INET, argv[2], &bind_addr) != 1) {
    fprintf(stderr, "usage: socks-floor PORT BIND_ADDRESS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 128)) {
    perror("listen");
    return 1;
  }
  fprintf(stderr, "READY\n");
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&at, 64 * 1024);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    pthread_t t;
    if (pthread_create(&t, &at, conn, (void *)(long)c)) close(c);
  }
}
