/*
 * Test program for libegress-shim, run with the shim in LD_PRELOAD inside a
 * throwaway network namespace prepared by test/shim-c.test.ts:
 *   eg0 (dummy, up): 10.99.0.1/24 (the "remote" side), 10.99.0.2/24 (egress
 *   address), 10.99.0.3/24 (another local address), fd00:99::1/64,
 *   fd00:99::2/64 (egress address); lo up.
 * Usage: shim-test bound|closed|nov6|dns|dnsclosed
 *   bound   EGRESS_BIND_V4=10.99.0.2 EGRESS_BIND_V6=fd00:99::2 EGRESS_BIND_IFACE=eg0
 *   closed  EGRESS_BIND_V4/V6 set to addresses that are not on the host
 *   nov6    only EGRESS_BIND_V4 set
 *   dns     as bound, EGRESS_DNS=10.99.0.1 (the test serves DNS there)
 *   dnsclosed  as closed, EGRESS_DNS=10.99.0.1
 * Prints one TAP line per check; exits 1 when a check failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/ip_icmp.h>
#include <resolv.h>
#include <unistd.h>

static int failures, checks;

static void check(int ok, const char *name, const char *detail) {
  checks++;
  if (!ok) failures++;
  printf("%sok %d - %s%s%s\n", ok ? "" : "not ", checks, name, detail[0] ? " # " : "", detail);
  fflush(stdout);
}

static struct sockaddr_in v4(const char *ip, int port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &s.sin_addr);
  return s;
}

static struct sockaddr_in6 v6(const char *ip, int port) {
  struct sockaddr_in6 s;
  memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons((uint16_t)port);
  inet_pton(AF_INET6, ip, &s.sin6_addr);
  return s;
}

/* The address part of a sockaddr as text (IPv4-mapped IPv6 shown as ::ffff:a.b.c.d). */
static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len) {
  if (ss->ss_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
  else if (ss->ss_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)len);
  else snprintf(buf, len, "family-%d", ss->ss_family);
}

static int listener(int family, int type, const struct sockaddr *addr, socklen_t len) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  /* The listener binds a specific address, which the shim leaves alone. */
  if (bind(fd, addr, len) != 0) {
    perror("listener bind");
    exit(2);
  }
  if (type == SOCK_STREAM) listen(fd, 256);
  return fd;
}

/* Accepts one connection and returns the peer's address text in buf. */
static int accept_peer(int lfd, char *buf, size_t len, int ms) {
  struct pollfd p = {.fd = lfd, .events = POLLIN};
  if (poll(&p, 1, ms) != 1) {
    snprintf(buf, len, "no connection");
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  int c = accept(lfd, (struct sockaddr *)&ss, &l);
  if (c < 0) {
    snprintf(buf, len, "accept: %s", strerror(errno));
    return -1;
  }
  addr_text(&ss, buf, len);
  close(c);
  return 0;
}

/* Receives one datagram (waits up to ms) and returns its source address text in buf; -1 when none came. */
static int recv_from(int fd, char *buf, size_t len, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, ms) != 1) {
    snprintf(buf, len, "nothing received");
    return -1;
  }
  char data[64];
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  if (recvfrom(fd, data, sizeof data, 0, (struct sockaddr *)&ss, &l) < 0) {
    snprintf(buf, len, "recvfrom: %s", strerror(errno));
    return -1;
  }
  addr_text(&ss, buf, len);
  return 0;
}

static void local_text(int fd, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0) snprintf(buf, len, "getsockname: %s", strerror(errno));
  else addr_text(&ss, buf, len);
}

static void device_of(int fd, char *buf, size_t len) {
  socklen_t l = (socklen_t)len;
  memset(buf, 0, len);
  if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, buf, &l) != 0) snprintf(buf, len, "error %s", strerror(errno));
}

static void tcp_case(const char *name, int family, const struct sockaddr *lis, socklen_t lislen, const struct sockaddr *dst, socklen_t dstlen, const char *want_peer, int want_errno) {
  int lfd = listener(lis->sa_family, SOCK_STREAM, lis, lislen);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int zero = 0;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  errno = 0;
  int rc = connect(fd, dst, dstlen);
  int e = errno;
  char detail[256], peer[INET6_ADDRSTRLEN + 32];
  if (want_errno) {
    int got = accept_peer(lfd, peer, sizeof peer, 300);
    snprintf(detail, sizeof detail, "rc=%d errno=%s listener: %s", rc, strerror(e), got == 0 ? peer : "nothing");
    check(rc == -1 && e == want_errno && got != 0, name, detail);
  } else {
    int got = accept_peer(lfd, peer, sizeof peer, 3000);
    snprintf(detail, sizeof detail, "rc=%d peer=%s want=%s", rc, peer, want_peer);
    check(rc == 0 && got == 0 && strcmp(peer, want_peer) == 0, name, detail);
  }
  close(fd);
  close(lfd);
}

/* Mode "bound": the egress address is on the host. */
static void run_bound(void) {
  char detail[256], buf[INET6_ADDRSTRLEN + 32], dev[IF_NAMESIZE + 16];

  struct sockaddr_in l4 = v4("10.99.0.1", 7001);
  tcp_case("tcp v4 connect is bound to the egress address", AF_INET, (struct sockaddr *)&l4, sizeof l4, (struct sockaddr *)&l4, sizeof l4, "10.99.0.2", 0);

  struct sockaddr_in6 l6 = v6("fd00:99::1", 7002);
  tcp_case("tcp v6 connect is bound to the egress address", AF_INET6, (struct sockaddr *)&l6, sizeof l6, (struct sockaddr *)&l6, sizeof l6, "fd00:99::2", 0);

  struct sockaddr_in l4m = v4("10.99.0.1", 7003);
  struct sockaddr_in6 mapped = v6("::ffff:10.99.0.1", 7003);
  tcp_case("tcp v4-mapped connect on a dual-stack socket is bound to the egress v4 address", AF_INET6, (struct sockaddr *)&l4m, sizeof l4m, (struct sockaddr *)&mapped, sizeof mapped, "10.99.0.2", 0);

  struct sockaddr_in6 l6short = v6("fd00:99::1", 7014);
  tcp_case("tcp v6 connect with the 24-byte RFC 2133 sockaddr_in6 is bound too", AF_INET6, (struct sockaddr *)&l6short, sizeof l6short, (struct sockaddr *)&l6short, 24, "fd00:99::2", 0);

  struct sockaddr_in lo = v4("127.0.0.1", 7004);
  tcp_case("loopback destination is left alone", AF_INET, (struct sockaddr *)&lo, sizeof lo, (struct sockaddr *)&lo, sizeof lo, "127.0.0.1", 0);

  /* SO_BINDTODEVICE applied to a connected socket. */
  {
    struct sockaddr_in l = v4("10.99.0.1", 7005);
    int lfd = listener(AF_INET, SOCK_STREAM, (struct sockaddr *)&l, sizeof l);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(fd, (struct sockaddr *)&l, sizeof l);
    device_of(fd, dev, sizeof dev);
    snprintf(detail, sizeof detail, "rc=%d device=%s", rc, dev);
    check(rc == 0 && strcmp(dev, "eg0") == 0, "connected socket is bound to the egress interface (SO_BINDTODEVICE)", detail);
    accept_peer(lfd, buf, sizeof buf, 3000);
    close(fd);
    close(lfd);
  }

  /* A bind to a specific address is left alone (no rebinding, no device). */
  {
    struct sockaddr_in l = v4("10.99.0.1", 7006);
    int lfd = listener(AF_INET, SOCK_STREAM, (struct sockaddr *)&l, sizeof l);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in mine = v4("10.99.0.3", 0);
    int brc = bind(fd, (struct sockaddr *)&mine, sizeof mine);
    int rc = connect(fd, (struct sockaddr *)&l, sizeof l);
    accept_peer(lfd, buf, sizeof buf, 3000);
    device_of(fd, dev, sizeof dev);
    snprintf(detail, sizeof detail, "bind=%d connect=%d peer=%s device='%s'", brc, rc, buf, dev);
    check(brc == 0 && rc == 0 && strcmp(buf, "10.99.0.3") == 0 && dev[0] == '\0', "bind to a specific address is left alone", detail);
    close(fd);
    close(lfd);
  }

  /* bind(INADDR_ANY) is rewritten to the egress address, port kept; the caller's sockaddr is read-only and unchanged. */
  {
    long page = sysconf(_SC_PAGESIZE);
    struct sockaddr_in *ro = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *ro = v4("0.0.0.0", 7007);
    struct sockaddr_in copy = *ro;
    mprotect(ro, (size_t)page, PROT_READ); /* a write by the shim would crash the test */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rc = bind(fd, (const struct sockaddr *)ro, sizeof *ro);
    struct sockaddr_in got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    local_text(fd, buf, sizeof buf);
    snprintf(detail, sizeof detail, "rc=%d local=%s:%d", rc, buf, ntohs(got.sin_port));
    check(rc == 0 && strcmp(buf, "10.99.0.2") == 0 && ntohs(got.sin_port) == 7007 && memcmp(&copy, ro, sizeof copy) == 0,
          "bind(INADDR_ANY) becomes the egress address, port kept, caller's sockaddr untouched", detail);
    close(fd);
    munmap(ro, (size_t)page);
  }

  /* bind(in6addr_any) on an IPv6 socket. */
  {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any = v6("::", 7008);
    int rc = bind(fd, (struct sockaddr *)&any, sizeof any);
    local_text(fd, buf, sizeof buf);
    snprintf(detail, sizeof detail, "rc=%d local=%s", rc, buf);
    check(rc == 0 && strcmp(buf, "fd00:99::2") == 0, "bind(in6addr_any) becomes the egress IPv6 address", detail);
    close(fd);
  }

  /* UDP sendto (v4), sendmsg (v6), sendmmsg (v4, two datagrams). */
  {
    struct sockaddr_in r = v4("10.99.0.1", 7010);
    int rfd = listener(AF_INET, SOCK_DGRAM, (struct sockaddr *)&r, sizeof r);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ssize_t n = sendto(fd, "x", 1, 0, (struct sockaddr *)&r, sizeof r);
    int got = recv_from(rfd, buf, sizeof buf, 2000);
    snprintf(detail, sizeof detail, "sent=%zd from=%s", n, buf);
    check(n == 1 && got == 0 && strcmp(buf, "10.99.0.2") == 0, "udp v4 sendto leaves from the egress address", detail);
    close(fd);
    close(rfd);
  }
  {
    struct sockaddr_in6 r = v6("fd00:99::1", 7011);
    int rfd = listener(AF_INET6, SOCK_DGRAM, (struct sockaddr *)&r, sizeof r);
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct iovec iov = {.iov_base = "y", .iov_len = 1};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &r;
    m.msg_namelen = sizeof r;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t n = sendmsg(fd, &m, 0);
    int got = recv_from(rfd, buf, sizeof buf, 2000);
    snprintf(detail, sizeof detail, "sent=%zd from=%s", n, buf);
    check(n == 1 && got == 0 && strcmp(buf, "fd00:99::2") == 0, "udp v6 sendmsg leaves from the egress address", detail);
    close(fd);
    close(rfd);
  }
  {
    struct sockaddr_in r = v4("10.99.0.1", 7012);
    int rfd = listener(AF_INET, SOCK_DGRAM, (struct sockaddr *)&r, sizeof r);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct iovec iov[2] = {{.iov_base = "a", .iov_len = 1}, {.iov_base = "b", .iov_len = 1}};
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 2; i++) {
      mm[i].msg_hdr.msg_name = &r;
      mm[i].msg_hdr.msg_namelen = sizeof r;
      mm[i].msg_hdr.msg_iov = &iov[i];
      mm[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fd, mm, 2, 0);
    char b2[INET6_ADDRSTRLEN + 32];
    int g1 = recv_from(rfd, buf, sizeof buf, 2000), g2 = recv_from(rfd, b2, sizeof b2, 2000);
    snprintf(detail, sizeof detail, "sent=%d from=%s,%s", n, buf, b2);
    check(n == 2 && g1 == 0 && g2 == 0 && strcmp(buf, "10.99.0.2") == 0 && strcmp(b2, "10.99.0.2") == 0, "udp v4 sendmmsg leaves from the egress address", detail);
    close(fd);
    close(rfd);
  }
  {
    /* v4-mapped UDP sendto on a dual-stack socket. */
    struct sockaddr_in r = v4("10.99.0.1", 7013);
    int rfd = listener(AF_INET, SOCK_DGRAM, (struct sockaddr *)&r, sizeof r);
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 d = v6("::ffff:10.99.0.1", 7013);
    ssize_t n = sendto(fd, "z", 1, 0, (struct sockaddr *)&d, sizeof d);
    int got = recv_from(rfd, buf, sizeof buf, 2000);
    snprintf(detail, sizeof detail, "sent=%zd from=%s", n, buf);
    check(n == 1 && got == 0 && strcmp(buf, "10.99.0.2") == 0, "udp v4-mapped sendto on a dual-stack socket leaves from the egress v4 address", detail);
    close(fd);
    close(rfd);
  }

  /* AF_UNIX is untouched: stream connect and datagram sendto work. */
  {
    char path[108];
    snprintf(path, sizeof path, "/tmp/egress-shim-test-%ld.sock", (long)getpid());
    unlink(path);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, path, strlen(path) + 1);
    int b = bind(lfd, (struct sockaddr *)&un, sizeof un);
    listen(lfd, 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int rc = connect(fd, (struct sockaddr *)&un, sizeof un);
    int sv[2];
    int sp = socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    ssize_t n = sp == 0 ? sendto(sv[0], "u", 1, 0, NULL, 0) : -1;
    snprintf(detail, sizeof detail, "bind=%d connect=%d sendto=%zd", b, rc, n);
    check(b == 0 && rc == 0 && n == 1, "AF_UNIX bind, connect and sendto are untouched", detail);
    close(fd);
    close(lfd);
    unlink(path);
    if (sp == 0) {
      close(sv[0]);
      close(sv[1]);
    }
  }
}

/* Mode "closed": the egress addresses are not on this host; nothing may be sent. */
static void run_closed(void) {
  char detail[256], buf[INET6_ADDRSTRLEN + 32];
  struct sockaddr_in l4 = v4("10.99.0.1", 7101);
  tcp_case("tcp v4 connect fails closed with ENETUNREACH", AF_INET, (struct sockaddr *)&l4, sizeof l4, (struct sockaddr *)&l4, sizeof l4, "", ENETUNREACH);
  struct sockaddr_in6 l6 = v6("fd00:99::1", 7102);
  tcp_case("tcp v6 connect fails closed with ENETUNREACH", AF_INET6, (struct sockaddr *)&l6, sizeof l6, (struct sockaddr *)&l6, sizeof l6, "", ENETUNREACH);
  struct sockaddr_in6 mapped = v6("::ffff:10.99.0.1", 7103);
  struct sockaddr_in l4m = v4("10.99.0.1", 7103);
  tcp_case("tcp v4-mapped connect fails closed with ENETUNREACH", AF_INET6, (struct sockaddr *)&l4m, sizeof l4m, (struct sockaddr *)&mapped, sizeof mapped, "", ENETUNREACH);

  struct sockaddr_in r = v4("10.99.0.1", 7110);
  int rfd = listener(AF_INET, SOCK_DGRAM, (struct sockaddr *)&r, sizeof r);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  errno = 0;
  ssize_t n = sendto(fd, "x", 1, 0, (struct sockaddr *)&r, sizeof r);
  int e = errno;
  struct iovec iov = {.iov_base = "y", .iov_len = 1};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_name = &r;
  m.msg_namelen = sizeof r;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  errno = 0;
  ssize_t n2 = sendmsg(fd, &m, 0);
  int e2 = errno;
  struct mmsghdr mm;
  memset(&mm, 0, sizeof mm);
  mm.msg_hdr = m;
  errno = 0;
  int n3 = sendmmsg(fd, &mm, 1, 0);
  int e3 = errno;
  int got = recv_from(rfd, buf, sizeof buf, 500);
  local_text(fd, buf, sizeof buf);
  struct sockaddr_in loc;
  socklen_t ll = sizeof loc;
  getsockname(fd, (struct sockaddr *)&loc, &ll);
  snprintf(detail, sizeof detail, "sendto=%zd/%s sendmsg=%zd/%s sendmmsg=%d/%s received=%s local port=%d", n, strerror(e), n2, strerror(e2), n3, strerror(e3),
           got == 0 ? "yes" : "no", ntohs(loc.sin_port));
  check(n == -1 && e == ENETUNREACH && n2 == -1 && e2 == ENETUNREACH && n3 == -1 && e3 == ENETUNREACH && got != 0 && loc.sin_port == 0,
        "udp sendto/sendmsg/sendmmsg fail closed with ENETUNREACH and nothing is sent", detail);
  close(fd);
  close(rfd);

  /* bind(INADDR_ANY) cannot take the egress address either. */
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in any = v4("0.0.0.0", 7111);
  errno = 0;
  int rc = bind(fd, (struct sockaddr *)&any, sizeof any);
  e = errno;
  snprintf(detail, sizeof detail, "rc=%d errno=%s", rc, strerror(e));
  check(rc == -1 && e == ENETUNREACH, "bind(INADDR_ANY) fails closed with ENETUNREACH", detail);
  close(fd);

  /* Loopback still works. */
  struct sockaddr_in lo = v4("127.0.0.1", 7112);
  tcp_case("loopback still works while the egress is unusable", AF_INET, (struct sockaddr *)&lo, sizeof lo, (struct sockaddr *)&lo, sizeof lo, "127.0.0.1", 0);

  /* Raw sockets are passed through (root only: needs CAP_NET_RAW). */
  if (geteuid() == 0) {
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    struct icmphdr icmp;
    memset(&icmp, 0, sizeof icmp);
    icmp.type = ICMP_ECHO;
    struct sockaddr_in dst = v4("10.99.0.1", 0);
    errno = 0;
    ssize_t s = sendto(raw, &icmp, sizeof icmp, 0, (struct sockaddr *)&dst, sizeof dst);
    snprintf(detail, sizeof detail, "socket=%d sendto=%zd errno=%s", raw, s, strerror(errno));
    check(raw >= 0 && s == (ssize_t)sizeof icmp, "raw sockets are passed through", detail);
    close(raw);
  }
}

/* Mode "nov6": only an IPv4 egress address; IPv6 is refused, never sent directly. */
static void run_nov6(void) {
  char detail[256], buf[INET6_ADDRSTRLEN + 32];
  struct sockaddr_in6 l6 = v6("fd00:99::1", 7201);
  tcp_case("tcp v6 connect is refused when the egress has no IPv6 address", AF_INET6, (struct sockaddr *)&l6, sizeof l6, (struct sockaddr *)&l6, sizeof l6, "", ENETUNREACH);
  struct sockaddr_in l4 = v4("10.99.0.1", 7202);
  tcp_case("tcp v4 connect still uses the egress address", AF_INET, (struct sockaddr *)&l4, sizeof l4, (struct sockaddr *)&l4, sizeof l4, "10.99.0.2", 0);
  /* A dual-stack wildcard bind takes the v4-mapped egress address. */
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  int zero = 0;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_in6 any = v6("::", 0);
  int rc = bind(fd, (struct sockaddr *)&any, sizeof any);
  local_text(fd, buf, sizeof buf);
  snprintf(detail, sizeof detail, "rc=%d local=%s", rc, buf);
  check(rc == 0 && strcmp(buf, "::ffff:10.99.0.2") == 0, "dual-stack bind(in6addr_any) takes the v4-mapped egress address", detail);
  close(fd);
}

/* Many threads connecting at once: every connection comes from the egress address. */
#define THREADS 32
#define PER_THREAD 40
static struct sockaddr_in thread_dst;
static void *thread_main(void *arg) {
  long bad = 0;
  (void)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    int fd = socket(i % 2 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;
    if (i % 2) {
      rc = connect(fd, (struct sockaddr *)&thread_dst, sizeof thread_dst);
    } else {
      struct sockaddr_in6 m = v6("::ffff:10.99.0.1", ntohs(thread_dst.sin_port));
      rc = connect(fd, (struct sockaddr *)&m, sizeof m);
    }
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    char b[INET6_ADDRSTRLEN];
    getsockname(fd, (struct sockaddr *)&ss, &l);
    addr_text(&ss, b, sizeof b);
    if (rc != 0 || (strcmp(b, "10.99.0.2") != 0 && strcmp(b, "::ffff:10.99.0.2") != 0)) bad++;
    close(fd);
  }
  return (void *)bad;
}

static void *acceptor(void *arg) {
  int lfd = *(int *)arg;
  for (int i = 0; i < THREADS * PER_THREAD; i++) {
    int c = accept(lfd, NULL, NULL);
    if (c >= 0) close(c);
  }
  return NULL;
}

static void run_threads(void) {
  thread_dst = v4("10.99.0.1", 7300);
  int lfd = listener(AF_INET, SOCK_STREAM, (struct sockaddr *)&thread_dst, sizeof thread_dst);
  pthread_t acc, th[THREADS];
  pthread_create(&acc, NULL, acceptor, &lfd);
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, thread_main, NULL);
  long bad = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(th[i], &r);
    bad += (long)r;
  }
  pthread_join(acc, NULL);
  char detail[128];
  snprintf(detail, sizeof detail, "%d threads x %d connects, %ld not from the egress address", THREADS, PER_THREAD, bad);
  check(bad == 0, "many threads connecting at once are all bound to the egress address", detail);
  close(lfd);
}


/* A tiny DNS server on 10.99.0.1:53 (thread): svc.egress.test A 10.99.0.1 / AAAA fd00:99::1, NXDOMAIN otherwise.
   It records the source address of every query it gets. */
static int dns_fd = -1, dns_queries;
static char dns_last_from[INET6_ADDRSTRLEN];
static pthread_mutex_t dns_lock = PTHREAD_MUTEX_INITIALIZER;

static void *dns_server(void *arg) {
  (void)arg;
  unsigned char q[512], r[600];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(dns_fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    if (n < 12) continue;
    pthread_mutex_lock(&dns_lock);
    dns_queries++;
    addr_text(&from, dns_last_from, sizeof dns_last_from);
    pthread_mutex_unlock(&dns_lock);
    /* Question name as text, and its type. */
    char name[256];
    size_t o = 12, w = 0;
    while (o < (size_t)n && q[o] != 0 && w < sizeof name - 64) {
      size_t l = q[o++];
      if (w) name[w++] = '.';
      memcpy(name + w, q + o, l);
      w += l;
      o += l;
    }
    name[w] = '\0';
    o++;
    int qtype = (q[o] << 8) | q[o + 1];
    size_t qend = o + 4;
    memcpy(r, q, qend);
    r[2] = 0x81;
    r[3] = 0x80;
    r[6] = 0;
    r[7] = 0;
    size_t len = qend;
    if (strcmp(name, "1.0.99.10.in-addr.arpa") == 0 && qtype == 12) {
      /* PTR svc.egress.test */
      static const unsigned char target[] = {3, 's', 'v', 'c', 6, 'e', 'g', 'r', 'e', 's', 's', 4, 't', 'e', 's', 't', 0};
      r[7] = 1;
      unsigned char rr[12] = {0xC0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, (unsigned char)sizeof target};
      memcpy(r + len, rr, sizeof rr);
      len += sizeof rr;
      memcpy(r + len, target, sizeof target);
      len += sizeof target;
    } else if (strcmp(name, "svc.egress.test") != 0) {
      r[3] = 0x83; /* NXDOMAIN */
    } else {
      unsigned char rd[16];
      int rdlen = qtype == 1 ? 4 : 16;
      if (qtype == 1) inet_pton(AF_INET, "10.99.0.1", rd);
      else inet_pton(AF_INET6, "fd00:99::1", rd);
      if (qtype == 1 || qtype == 28) {
        r[7] = 1;
        unsigned char rr[12] = {0xC0, 12, 0, (unsigned char)qtype, 0, 1, 0, 0, 0, 60, 0, (unsigned char)rdlen};
        memcpy(r + len, rr, sizeof rr);
        len += sizeof rr;
        memcpy(r + len, rd, (size_t)rdlen);
        len += (size_t)rdlen;
      }
    }
    sendto(dns_fd, r, len, 0, (struct sockaddr *)&from, fl);
  }
  return NULL;
}

static void start_dns(void) {
  struct sockaddr_in a = v4("10.99.0.1", 53);
  dns_fd = listener(AF_INET, SOCK_DGRAM, (struct sockaddr *)&a, sizeof a);
  pthread_t t;
  pthread_create(&t, NULL, dns_server, NULL);
}

static int dns_count(char *from, size_t len) {
  pthread_mutex_lock(&dns_lock);
  int n = dns_queries;
  snprintf(from, len, "%s", dns_last_from);
  pthread_mutex_unlock(&dns_lock);
  return n;
}

/* All addresses of a getaddrinfo result as "addr/port,addr/port". */
static void ai_text(const struct addrinfo *ai, char *buf, size_t len) {
  buf[0] = '\0';
  for (; ai != NULL; ai = ai->ai_next) {
    char a[INET6_ADDRSTRLEN];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    addr_text(&ss, a, sizeof a);
    int port = ai->ai_family == AF_INET ? ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port) : ntohs(((struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s/%d", used ? "," : "", a, port);
  }
}

/* Mode "dns": names are resolved through the egress (query sourced from the egress address). */
static void run_dns(void) {
  char detail[1024], list[256], from[INET6_ADDRSTRLEN];
  start_dns();
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_CANONNAME;
  int rc = getaddrinfo("svc.egress.test", "80", &hints, &res);
  if (rc == 0) ai_text(res, list, sizeof list);
  else snprintf(list, sizeof list, "%s", gai_strerror(rc));
  int n = dns_count(from, sizeof from);
  snprintf(detail, sizeof detail, "rc=%d result=%s canon=%s queries=%d from=%s", rc, list, rc == 0 && res->ai_canonname ? res->ai_canonname : "-", n, from);
  check(rc == 0 && strcmp(list, "10.99.0.1/80,fd00:99::1/80") == 0 && res->ai_canonname && strcmp(res->ai_canonname, "svc.egress.test") == 0 && n == 2 && strcmp(from, "10.99.0.2") == 0,
        "getaddrinfo asks the egress's resolver from the egress address (A and AAAA)", detail);
  if (rc == 0) freeaddrinfo(res);

  hints.ai_flags = 0;
  hints.ai_family = AF_INET;
  rc = getaddrinfo("svc.egress.test", NULL, &hints, &res);
  if (rc == 0) ai_text(res, list, sizeof list);
  else snprintf(list, sizeof list, "%s", gai_strerror(rc));
  snprintf(detail, sizeof detail, "rc=%d result=%s", rc, list);
  check(rc == 0 && strcmp(list, "10.99.0.1/0") == 0, "getaddrinfo with AF_INET asks for A only", detail);
  if (rc == 0) freeaddrinfo(res);

  hints.ai_family = AF_UNSPEC;
  rc = getaddrinfo("nothere.egress.test", "80", &hints, &res);
  snprintf(detail, sizeof detail, "rc=%d (%s)", rc, gai_strerror(rc));
  check(rc == EAI_NONAME, "an unknown name is EAI_NONAME", detail);

  /* gethostbyname and friends take the same path. */
  int q0 = dns_count(from, sizeof from);
  struct hostent *h4 = gethostbyname("svc.egress.test");
  char a4[INET6_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
  if (h4 && h4->h_addr_list[0]) inet_ntop(AF_INET, h4->h_addr_list[0], a4, sizeof a4);
  /* The next call reuses the same per-thread storage, so look at this result now. */
  int h4ok = h4 && strcmp(h4->h_name, "svc.egress.test") == 0 && h4->h_addrtype == AF_INET && h4->h_length == 4 && h4->h_addr_list[1] == NULL && h4->h_aliases[0] == NULL;
  struct hostent *h6 = gethostbyname2("svc.egress.test", AF_INET6);
  if (h6 && h6->h_addr_list[0]) inet_ntop(AF_INET6, h6->h_addr_list[0], a6, sizeof a6);
  struct hostent hr, *hres = NULL;
  char small[8];
  int herr = 0;
  int rr = gethostbyname_r("svc.egress.test", &hr, small, sizeof small, &hres, &herr);
  struct hostent *nx = gethostbyname("nothere.egress.test");
  int nxerr = h_errno;
  int q1 = dns_count(from, sizeof from);
  snprintf(detail, sizeof detail, "v4=%s hostent=%s v6=%s small-buffer=%s nothere=%s/%d queries=%d from=%s", a4, h4ok ? "ok" : "bad", a6, rr == ERANGE ? "ERANGE" : "other", nx ? "found" : "NULL", nxerr, q1 - q0, from);
  check(h4ok && strcmp(a4, "10.99.0.1") == 0 && strcmp(a6, "fd00:99::1") == 0 && rr == ERANGE && hres == NULL && nx == NULL && nxerr == HOST_NOT_FOUND && q1 - q0 == 4 && strcmp(from, "10.99.0.2") == 0,
        "gethostbyname, gethostbyname2 and gethostbyname_r resolve through the egress", detail);

  /* res_query / res_search / res_querydomain / res_send go through the egress too. */
  q0 = dns_count(from, sizeof from);
  unsigned char ansbuf[512], qbuf[512];
  int rq = res_query("svc.egress.test", C_IN, T_A, ansbuf, sizeof ansbuf);
  int a_ok = rq > 12 && ((ansbuf[6] << 8) | ansbuf[7]) == 1 && memcmp(ansbuf + rq - 4, "\x0a\x63\x00\x01", 4) == 0;
  int rs = res_search("svc.egress.test", C_IN, T_AAAA, ansbuf, sizeof ansbuf);
  int rd = res_querydomain("svc", "egress.test", C_IN, T_A, ansbuf, sizeof ansbuf);
  int rnx = res_query("nothere.egress.test", C_IN, T_A, ansbuf, sizeof ansbuf);
  int nxh = h_errno;
  int ql = res_mkquery(QUERY, "svc.egress.test", C_IN, T_A, NULL, 0, NULL, qbuf, sizeof qbuf);
  int rsend = ql > 0 ? res_send(qbuf, ql, ansbuf, sizeof ansbuf) : -1;
  q1 = dns_count(from, sizeof from);
  snprintf(detail, sizeof detail, "res_query=%s res_search=%s res_querydomain=%s nothere=%d/%d res_send=%s queries=%d from=%s", a_ok ? "A 10.99.0.1" : "bad", rs > 12 ? "ok" : "bad",
           rd > 12 ? "ok" : "bad", rnx, nxh, rsend > 12 ? "ok" : "bad", q1 - q0, from);
  check(a_ok && rs > 12 && rd > 12 && rnx == -1 && nxh == HOST_NOT_FOUND && rsend > 12 && q1 - q0 == 5 && strcmp(from, "10.99.0.2") == 0, "res_query, res_search, res_querydomain and res_send go through the egress", detail);

  /* getnameinfo asks PTR through the egress; numeric requests and unknown addresses need no name. */
  q0 = dns_count(from, sizeof from);
  struct sockaddr_in ptr = v4("10.99.0.1", 80), unknown = v4("10.99.0.3", 80);
  char hn[64], sv[16], hn2[64], hn3[64];
  int g1 = getnameinfo((struct sockaddr *)&ptr, sizeof ptr, hn, sizeof hn, sv, sizeof sv, NI_NUMERICSERV);
  int g2 = getnameinfo((struct sockaddr *)&unknown, sizeof unknown, hn2, sizeof hn2, NULL, 0, 0);
  int g3 = getnameinfo((struct sockaddr *)&unknown, sizeof unknown, hn3, sizeof hn3, NULL, 0, NI_NAMEREQD);
  int qa = dns_count(from, sizeof from);
  int g4 = getnameinfo((struct sockaddr *)&ptr, sizeof ptr, hn3, sizeof hn3, NULL, 0, NI_NUMERICHOST);
  int qb = dns_count(from, sizeof from);
  snprintf(detail, sizeof detail, "ptr=%d:%s:%s unknown=%d:%s namereqd=%d numeric=%d:%s queries=%d+%d from=%s", g1, hn, sv, g2, hn2, g3, g4, hn3, qa - q0, qb - qa, from);
  check(g1 == 0 && strcmp(hn, "svc.egress.test") == 0 && strcmp(sv, "80") == 0 && g2 == 0 && strcmp(hn2, "10.99.0.3") == 0 && g3 == EAI_NONAME && g4 == 0 && strcmp(hn3, "10.99.0.1") == 0 &&
            qa - q0 == 3 && qb == qa && strcmp(from, "10.99.0.2") == 0,
        "getnameinfo asks PTR through the egress", detail);

  int before = dns_count(from, sizeof from);
  rc = getaddrinfo("localhost", "80", &hints, &res);
  if (rc == 0) freeaddrinfo(res);
  int rc2 = getaddrinfo("10.99.0.1", "80", &hints, &res);
  if (rc2 == 0) freeaddrinfo(res);
  int after = dns_count(from, sizeof from);
  snprintf(detail, sizeof detail, "localhost rc=%d numeric rc=%d queries=%d", rc, rc2, after - before);
  check(rc == 0 && rc2 == 0 && after == before, "localhost and numeric hosts need no DNS query", detail);
}

/* Mode "dnsclosed": the egress address is not on the host; names fail, nothing is asked. */
static void run_dns_closed(void) {
  char detail[256], from[INET6_ADDRSTRLEN];
  start_dns();
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  int rc = getaddrinfo("svc.egress.test", "80", &hints, &res);
  struct hostent *h = gethostbyname("svc.egress.test");
  int herr = h_errno;
  unsigned char ans[512];
  int rq = res_query("svc.egress.test", C_IN, T_A, ans, sizeof ans);
  int rqerr = h_errno;
  struct sockaddr_in ptr = v4("10.99.0.1", 80);
  char hn[64];
  int gn = getnameinfo((struct sockaddr *)&ptr, sizeof ptr, hn, sizeof hn, NULL, 0, NI_NAMEREQD);
  usleep(200000);
  int n = dns_count(from, sizeof from);
  snprintf(detail, sizeof detail, "rc=%d (%s) gethostbyname=%s/%d res_query=%d/%d getnameinfo=%d queries=%d", rc, gai_strerror(rc), h ? "found" : "NULL", herr, rq, rqerr, gn, n);
  check(rc == EAI_FAIL && h == NULL && herr == NO_RECOVERY && rq == -1 && rqerr == NO_RECOVERY && gn == EAI_FAIL && n == 0,
        "getaddrinfo, gethostbyname, res_query and getnameinfo fail and send nothing when the egress cannot be used", detail);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "bound") == 0) {
    run_bound();
    run_threads();
  } else if (strcmp(mode, "closed") == 0) {
    run_closed();
  } else if (strcmp(mode, "nov6") == 0) {
    run_nov6();
  } else if (strcmp(mode, "dns") == 0) {
    run_dns();
  } else if (strcmp(mode, "dnsclosed") == 0) {
    run_dns_closed();
  } else {
    fprintf(stderr, "usage: shim-test bound|closed|nov6|dns|dnsclosed\n");
    return 2;
  }
  printf("1..%d\n", checks);
  return failures ? 1 : 0;
}
