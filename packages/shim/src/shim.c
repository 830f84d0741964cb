/*
 * libegress-shim: an LD_PRELOAD library that makes one application's IPv4 and
 * IPv6 sockets leave through an egress by binding them to the egress's address
 * (and, where the kernel allows it, to its interface) before they connect or
 * send. The client routes traffic sourced from that address through the
 * egress's table, with its kill switch.
 *
 * Configuration, read once from the environment:
 *   EGRESS_BIND_V4     IPv4 source address (tunnel address of the egress)
 *   EGRESS_BIND_V6     IPv6 source address
 *   EGRESS_BIND_IFACE  interface for SO_BINDTODEVICE (skipped when the kernel
 *                      refuses it to the caller with EPERM)
 *   EGRESS_SHIM_DEBUG  when set (non-empty, not "0"), one line per decision on stderr
 *
 * Rules:
 *   - AF_UNIX, AF_NETLINK, raw sockets and loopback destinations pass through.
 *   - A socket the application bound to a specific address is left alone.
 *   - bind() to INADDR_ANY / in6addr_any is rewritten to the egress address.
 *   - An unbound socket is bound to the egress address before connect(), and
 *     before sendto/sendmsg/sendmmsg with a destination (unconnected UDP, TCP
 *     fast open).
 *   - When the binding cannot be applied (no address of that family, address
 *     not on the host, interface missing, socket already bound to a wildcard
 *     with a port), the call fails with ENETUNREACH and nothing is sent.
 *
 * Real functions are resolved once with dlsym(RTLD_NEXT) under pthread_once,
 * also from a constructor. No static result buffers; the caller's sockaddr is
 * never written to.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* glibc declares the sockaddr arguments as a transparent union under _GNU_SOURCE. */
#if defined(__GLIBC__) && defined(__USE_GNU) && !defined(__cplusplus) && __GNUC_PREREQ(2, 7)
#define EG_CONST_SA __CONST_SOCKADDR_ARG
#define EG_SA_PTR(a) ((a).__sockaddr__)
#else
#define EG_CONST_SA const struct sockaddr *
#define EG_SA_PTR(a) (a)
#endif



#include "shim-internal.h"

/* Written once under pthread_once, read-only afterwards. */
struct eg_config eg;

static pthread_once_t eg_once = PTHREAD_ONCE_INIT;

/* Prints one diagnostic line on stderr when EGRESS_SHIM_DEBUG is set. */
void eg_debug(const char *fmt, ...) {
  if (!eg.debug) return;
  char line[512];
  int saved = errno;
  int n = snprintf(line, sizeof line, "egress-shim[%ld]: ", (long)getpid());
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
  errno = saved;
}

/* Looks up the next definition of a symbol; aborts when it is missing or lives in this library (a circular lookup). */
static void *eg_resolve(const char *name) {
  void *fn = dlsym(RTLD_NEXT, name);
  Dl_info mine, found;
  int circular = fn != NULL && dladdr((void *)&eg_resolve, &mine) != 0 && dladdr(fn, &found) != 0 && mine.dli_fbase == found.dli_fbase;
  if (fn == NULL || circular) {
    static const char msg[] = "egress-shim: cannot resolve the real socket functions (dlsym RTLD_NEXT); aborting\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    abort();
  }
  return fn;
}

static void eg_init(void) {
  eg.connect = (connect_fn)eg_resolve("connect");
  eg.bind = (bind_fn)eg_resolve("bind");
  eg.sendto = (sendto_fn)eg_resolve("sendto");
  eg.sendmsg = (sendmsg_fn)eg_resolve("sendmsg");
  eg.sendmmsg = (sendmmsg_fn)eg_resolve("sendmmsg");
  eg.getaddrinfo = (getaddrinfo_fn)eg_resolve("getaddrinfo");
  eg.gethostbyname2_r = (gethostbyname2_r_fn)eg_resolve("gethostbyname2_r");
  eg.gethostbyname2 = (gethostbyname2_fn)eg_resolve("gethostbyname2");
  eg.getnameinfo = (getnameinfo_fn)eg_resolve("getnameinfo");
  eg_exec_init();

  const char *dbg = getenv("EGRESS_SHIM_DEBUG");
  eg.debug = dbg != NULL && dbg[0] != '\0' && strcmp(dbg, "0") != 0;

  const char *v4 = getenv("EGRESS_BIND_V4");
  if (v4 != NULL && v4[0] != '\0') {
    eg.have_v4 = inet_pton(AF_INET, v4, &eg.v4) == 1;
    if (!eg.have_v4) eg_debug("EGRESS_BIND_V4='%s' is not an IPv4 address; IPv4 will be refused", v4);
  }
  const char *v6 = getenv("EGRESS_BIND_V6");
  if (v6 != NULL && v6[0] != '\0') {
    eg.have_v6 = inet_pton(AF_INET6, v6, &eg.v6) == 1 && !IN6_IS_ADDR_V4MAPPED(&eg.v6);
    if (!eg.have_v6) eg_debug("EGRESS_BIND_V6='%s' is not an IPv6 address; IPv6 will be refused", v6);
  }
  const char *ifc = getenv("EGRESS_BIND_IFACE");
  if (ifc != NULL && ifc[0] != '\0') {
    if (strlen(ifc) < IF_NAMESIZE) {
      memcpy(eg.iface, ifc, strlen(ifc) + 1);
      eg.have_iface = 1;
    } else {
      /* An interface name that cannot exist: every binding fails closed. */
      eg.have_iface = -1;
      eg_debug("EGRESS_BIND_IFACE='%s' is too long for an interface name", ifc);
    }
  }
  eg_dns_init(getenv("EGRESS_DNS"));
  eg_debug("loaded: v4=%s v6=%s iface=%s dns=%d server(s)", eg.have_v4 ? v4 : "-", eg.have_v6 ? v6 : "-", eg.have_iface == 1 ? eg.iface : "-", eg.ndns);
}

void eg_ready(void) { pthread_once(&eg_once, eg_init); }

__attribute__((constructor)) static void eg_constructor(void) { eg_ready(); }

/* What a destination address means for the egress. */
enum eg_dest { EG_DEST_PASS, EG_DEST_V4, EG_DEST_V6 };

/* Smallest IPv6 address length the kernel accepts (RFC 2133 layout, without sin6_scope_id). */
#define EG_SIN6_LEN_MIN 24

/*
 * Classifies a destination: loopback, the unspecified address (which the kernel delivers locally) and non-IP
 * families pass; v4-mapped IPv6 counts as IPv4.
 */
static enum eg_dest eg_classify(const struct sockaddr *sa, socklen_t len) {
  if (sa == NULL || len < (socklen_t)sizeof(sa_family_t)) return EG_DEST_PASS;
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof sin);
    uint32_t a = ntohl(sin.sin_addr.s_addr);
    if ((a >> 24) == 127 || a == INADDR_ANY) return EG_DEST_PASS;
    return EG_DEST_V4;
  }
  if (sa->sa_family == AF_INET6 && len >= (socklen_t)EG_SIN6_LEN_MIN) {
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof sin6);
    memcpy(&sin6, sa, len < (socklen_t)sizeof sin6 ? (size_t)len : sizeof sin6);
    const struct in6_addr *a = &sin6.sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a)) return EG_DEST_PASS;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      if (a->s6_addr[12] == 127 || (a->s6_addr[12] | a->s6_addr[13] | a->s6_addr[14] | a->s6_addr[15]) == 0) return EG_DEST_PASS;
      return EG_DEST_V4;
    }
    return EG_DEST_V6;
  }
  return EG_DEST_PASS;
}

/*
 * Looks at a socket with two syscalls: getsockname (family, and whether it is bound) and SO_TYPE.
 * Returns 0 when the shim does not handle it (not AF_INET/AF_INET6, raw, or not a socket). Otherwise 1, with
 * *domain and *state: 0 unbound, 1 bound to a wildcard with a port, 2 bound to a specific address.
 */
static int eg_socket_info(int fd, int *domain, int *state) {
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &l) != 0) return 0;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
    *state = s4->sin_addr.s_addr != htonl(INADDR_ANY) ? 2 : s4->sin_port != 0 ? 1 : 0;
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    *state = !IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? 2 : s6->sin6_port != 0 ? 1 : 0;
  } else {
    return 0;
  }
  int type = 0;
  l = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type == SOCK_RAW || type == SOCK_PACKET) return 0;
  *domain = ss.ss_family;
  return 1;
}

/* Fills *out with the egress address for a destination kind on a socket of `domain`, with `port`. */
static int eg_source_for(int domain, enum eg_dest kind, in_port_t port, struct sockaddr_storage *out, socklen_t *outlen) {
  memset(out, 0, sizeof *out);
  if (kind == EG_DEST_V4) {
    if (!eg.have_v4) return -1;
    if (domain == AF_INET) {
      struct sockaddr_in *s = (struct sockaddr_in *)out;
      s->sin_family = AF_INET;
      s->sin_port = port;
      s->sin_addr = eg.v4;
      *outlen = sizeof *s;
      return 0;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)out;
    s->sin6_family = AF_INET6;
    s->sin6_port = port;
    s->sin6_addr.s6_addr[10] = 0xff;
    s->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&s->sin6_addr.s6_addr[12], &eg.v4, 4);
    *outlen = sizeof *s;
    return 0;
  }
  if (kind == EG_DEST_V6 && eg.have_v6 && domain == AF_INET6) {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)out;
    s->sin6_family = AF_INET6;
    s->sin6_port = port;
    s->sin6_addr = eg.v6;
    *outlen = sizeof *s;
    return 0;
  }
  return -1;
}

/* Formats an address for debug lines into the caller's buffer. */
static const char *eg_fmt(const struct sockaddr *sa, char *buf, size_t len) {
  if (sa->sa_family == AF_INET) return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
  if (sa->sa_family == AF_INET6) return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
  return "?";
}

/* Ties the socket to the egress interface; EPERM (kernel refuses the caller) is tolerated. */
static int eg_bind_device(int fd) {
  if (eg.have_iface == 0) return 0;
  if (eg.have_iface < 0) return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, eg.iface, (socklen_t)strlen(eg.iface) + 1) == 0) return 0;
  if (errno == EPERM || errno == EACCES) {
    eg_debug("SO_BINDTODEVICE %s refused to this caller (errno %d); relying on the source address", eg.iface, errno);
    return 0;
  }
  eg_debug("SO_BINDTODEVICE %s failed (errno %d)", eg.iface, errno);
  return -1;
}

/* Binds an unbound socket to the egress for a destination. 0 = proceed (bound or left alone), -1 = fail closed. */
int eg_apply(int fd, const struct sockaddr *dest, socklen_t destlen, const char *what) {
  int domain, state;
  enum eg_dest kind = eg_classify(dest, destlen);
  if (kind == EG_DEST_PASS || !eg_socket_info(fd, &domain, &state)) return 0;
  if (state == 2) return 0; /* bound to a specific address: the application's (or our) choice */
  char d[INET6_ADDRSTRLEN];
  if (state != 0) {
    eg_debug("%s fd %d to %s: socket already bound to a wildcard address, cannot bind it to the egress", what, fd, eg_fmt(dest, d, sizeof d));
    return -1;
  }
  struct sockaddr_storage src;
  socklen_t srclen = 0;
  if (eg_source_for(domain, kind, 0, &src, &srclen) != 0) {
    eg_debug("%s fd %d to %s: the egress has no %s address", what, fd, eg_fmt(dest, d, sizeof d), kind == EG_DEST_V4 ? "IPv4" : "IPv6");
    return -1;
  }
  if (eg_bind_device(fd) != 0) return -1;
  if (eg.bind(fd, (const struct sockaddr *)&src, srclen) != 0) {
    char s[INET6_ADDRSTRLEN];
    eg_debug("%s fd %d: bind to %s failed (errno %d)", what, fd, eg_fmt((const struct sockaddr *)&src, s, sizeof s), errno);
    return -1;
  }
  if (eg.debug) {
    char s[INET6_ADDRSTRLEN];
    eg_debug("%s fd %d to %s: bound to %s", what, fd, eg_fmt(dest, d, sizeof d), eg_fmt((const struct sockaddr *)&src, s, sizeof s));
  }
  return 0;
}

EG_EXPORT int connect(int fd, EG_CONST_SA addr_arg, socklen_t len) {
  const struct sockaddr *addr = EG_SA_PTR(addr_arg);
  eg_ready();
  int saved = errno;
  if (eg_apply(fd, addr, len, "connect") != 0) {
    errno = ENETUNREACH;
    return -1;
  }
  errno = saved;
  return eg.connect(fd, addr, len);
}

/* True when a bind address is the wildcard (0.0.0.0, ::, or ::ffff:0.0.0.0). */
static int eg_is_wildcard(const struct sockaddr *sa, socklen_t len, int *v4) {
  if (sa == NULL) return 0;
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in s;
    memcpy(&s, sa, sizeof s);
    *v4 = 1;
    return s.sin_addr.s_addr == htonl(INADDR_ANY);
  }
  if (sa->sa_family == AF_INET6 && len >= (socklen_t)EG_SIN6_LEN_MIN) {
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    memcpy(&s, sa, len < (socklen_t)sizeof s ? (size_t)len : sizeof s);
    static const unsigned char mapped_any[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    if (memcmp(&s.sin6_addr, mapped_any, 16) == 0) {
      *v4 = 1;
      return 1;
    }
    *v4 = 0;
    return IN6_IS_ADDR_UNSPECIFIED(&s.sin6_addr);
  }
  return 0;
}

EG_EXPORT int bind(int fd, EG_CONST_SA addr_arg, socklen_t len) {
  const struct sockaddr *addr = EG_SA_PTR(addr_arg);
  eg_ready();
  int saved = errno, domain, state, v4 = 0;
  if (!eg_is_wildcard(addr, len, &v4) || !eg_socket_info(fd, &domain, &state)) {
    errno = saved;
    return eg.bind(fd, addr, len);
  }
  in_port_t port = addr->sa_family == AF_INET ? ((const struct sockaddr_in *)addr)->sin_port : ((const struct sockaddr_in6 *)addr)->sin6_port;
  enum eg_dest kind = v4 ? EG_DEST_V4 : EG_DEST_V6;
  /* A dual-stack wildcard with no IPv6 egress address takes the IPv4 one (v4-mapped). */
  if (kind == EG_DEST_V6 && !eg.have_v6 && eg.have_v4) {
    int v6only = 1;
    socklen_t l = sizeof v6only;
    if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l) == 0 && v6only == 0) kind = EG_DEST_V4;
  }
  struct sockaddr_storage src;
  socklen_t srclen = 0;
  if (eg_source_for(addr->sa_family, kind, port, &src, &srclen) != 0 || eg_bind_device(fd) != 0) {
    eg_debug("bind fd %d: wildcard cannot be bound to the egress", fd);
    errno = ENETUNREACH;
    return -1;
  }
  int rc = eg.bind(fd, (const struct sockaddr *)&src, srclen);
  if (rc != 0) {
    int e = errno;
    eg_debug("bind fd %d: egress address refused (errno %d)", fd, e);
    /* The application's own mistakes (port in use, no permission) keep their errno. */
    errno = (e == EADDRINUSE || e == EACCES || e == EINVAL || e == EBADF || e == ENOTSOCK) ? e : ENETUNREACH;
    return -1;
  }
  char s[INET6_ADDRSTRLEN];
  eg_debug("bind fd %d: wildcard rewritten to %s port %u", fd, eg_fmt((const struct sockaddr *)&src, s, sizeof s), (unsigned)ntohs(port));
  errno = saved;
  return 0;
}

EG_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, EG_CONST_SA addr_arg, socklen_t len) {
  const struct sockaddr *addr = EG_SA_PTR(addr_arg);
  eg_ready();
  int saved = errno;
  if (addr != NULL && eg_apply(fd, addr, len, "sendto") != 0) {
    errno = ENETUNREACH;
    return -1;
  }
  errno = saved;
  return eg.sendto(fd, buf, n, flags, addr, len);
}

EG_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  eg_ready();
  int saved = errno;
  if (msg != NULL && msg->msg_name != NULL && eg_apply(fd, (const struct sockaddr *)msg->msg_name, msg->msg_namelen, "sendmsg") != 0) {
    errno = ENETUNREACH;
    return -1;
  }
  errno = saved;
  return eg.sendmsg(fd, msg, flags);
}

EG_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags) {
  eg_ready();
  int saved = errno;
  for (unsigned int i = 0; vec != NULL && i < vlen; i++) {
    const struct msghdr *m = &vec[i].msg_hdr;
    if (m->msg_name != NULL && eg_apply(fd, (const struct sockaddr *)m->msg_name, m->msg_namelen, "sendmmsg") != 0) {
      errno = ENETUNREACH;
      return -1;
    }
  }
  errno = saved;
  return eg.sendmmsg(fd, vec, vlen, flags);
}
