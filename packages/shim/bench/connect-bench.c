/*
 * connect() cost benchmark: times N connect() calls to DEST:PORT and prints the median, p10 and p90 in
 * nanoseconds as one JSON line. Run it with and without the shim in LD_PRELOAD to see what the shim adds.
 * tcp: blocking connect to a listener (full handshake); each client socket is closed with SO_LINGER {1,0} (RST)
 * so no TIME_WAIT piles up. udp: connect() of a fresh UDP socket (route lookup and binding only, no packet),
 * which isolates the shim's own work from handshake noise.
 * Usage: connect-bench DEST PORT ITERATIONS [tcp|udp]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd;

static void *acceptor(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(lfd, NULL, NULL);
    if (c >= 0) close(c);
  }
  return NULL;
}

static int cmp(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: connect-bench DEST PORT ITERATIONS [tcp|udp]\n");
    return 2;
  }
  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) return 2;
  int n = atoi(argv[3]);
  int type = argc == 5 && strcmp(argv[4], "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
  long *samples = calloc((size_t)n, sizeof *samples);

  /* The listener binds DEST itself (a specific address: the shim leaves it alone). */
  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)&dst, sizeof dst) != 0 || listen(lfd, 4096) != 0) {
    perror("listener");
    return 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, acceptor, NULL);

  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  int failed = 0;
  for (int i = -n / 10; i < n; i++) { /* the first tenth warms up caches and is not kept */
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    long t0 = now_ns();
    int rc = connect(fd, (struct sockaddr *)&dst, sizeof dst);
    long t1 = now_ns();
    if (rc != 0) failed++;
    if (i >= 0) samples[i] = t1 - t0;
    if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
  }
  qsort(samples, (size_t)n, sizeof *samples, cmp);
  struct sockaddr_in me;
  socklen_t ml = sizeof me;
  int fd = socket(AF_INET, type, 0);
  connect(fd, (struct sockaddr *)&dst, sizeof dst);
  getsockname(fd, (struct sockaddr *)&me, &ml);
  char src[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &me.sin_addr, src, sizeof src);
  printf("{\"iterations\":%d,\"failed\":%d,\"medianNs\":%ld,\"p10Ns\":%ld,\"p90Ns\":%ld,\"source\":\"%s\"}\n", n, failed, samples[n / 2], samples[n / 10], samples[n * 9 / 10], src);
  return failed ? 1 : 0;
}
