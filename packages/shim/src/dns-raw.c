/*
 * The rest of glibc's resolver API, through the egress: res_query/res_search/res_querydomain/res_send (and their
 * res_n* and __res_* forms) send their queries to the egress's resolvers from a socket bound to the egress, and
 * getnameinfo's reverse lookups ask PTR the same way. The resolver context (res_state) is not consulted: queries
 * always go to EGRESS_DNS (else resolv.conf's non-loopback servers). When nothing can be sent through the egress,
 * the call fails (h_errno NO_RECOVERY / EAI_FAIL); it never queries directly.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim-internal.h"

/* res_query: -1 with h_errno for NXDOMAIN / no data / failure, else the answer length (as glibc does). */
static int eg_res_query(const char *name, int class, int type, unsigned char *answer, int anslen) {
  eg_ready();
  unsigned char q[300];
  int qlen = eg_build_query(q, sizeof q, eg_query_id(), name, (uint16_t)class, (uint16_t)type);
  if (qlen < 0 || answer == NULL || anslen < 12) {
    h_errno = NO_RECOVERY;
    return -1;
  }
  int sent = 0;
  int n = eg_exchange(q, qlen, answer, anslen, &sent);
  if (n <= 0) {
    eg_debug("res_query %s: %s through the egress", name, n < 0 ? "cannot be sent" : "no answer");
    h_errno = n < 0 ? NO_RECOVERY : TRY_AGAIN;
    return -1;
  }
  int rcode = answer[3] & 0x0F, ancount = (answer[6] << 8) | answer[7];
  if (rcode == 3) {
    h_errno = HOST_NOT_FOUND;
    return -1;
  }
  if (rcode == 2) {
    h_errno = TRY_AGAIN;
    return -1;
  }
  if (rcode != 0) {
    h_errno = NO_RECOVERY;
    return -1;
  }
  if (ancount == 0) {
    h_errno = NO_DATA;
    return -1;
  }
  eg_debug("res_query %s type %d: %d byte answer through the egress", name, type, n);
  return n;
}

EG_EXPORT int res_query(const char *name, int class, int type, unsigned char *answer, int anslen) { return eg_res_query(name, class, type, answer, anslen); }
EG_EXPORT int __res_query(const char *name, int class, int type, unsigned char *answer, int anslen) { return eg_res_query(name, class, type, answer, anslen); }
EG_EXPORT int res_nquery(res_state st, const char *name, int class, int type, unsigned char *answer, int anslen) {
  (void)st;
  return eg_res_query(name, class, type, answer, anslen);
}
EG_EXPORT int __res_nquery(res_state st, const char *name, int class, int type, unsigned char *answer, int anslen) { return res_nquery(st, name, class, type, answer, anslen); }

/* res_search: the name as given (search domains are not applied). */
EG_EXPORT int res_search(const char *name, int class, int type, unsigned char *answer, int anslen) { return eg_res_query(name, class, type, answer, anslen); }
EG_EXPORT int __res_search(const char *name, int class, int type, unsigned char *answer, int anslen) { return eg_res_query(name, class, type, answer, anslen); }
EG_EXPORT int res_nsearch(res_state st, const char *name, int class, int type, unsigned char *answer, int anslen) {
  (void)st;
  return eg_res_query(name, class, type, answer, anslen);
}
EG_EXPORT int __res_nsearch(res_state st, const char *name, int class, int type, unsigned char *answer, int anslen) { return res_nsearch(st, name, class, type, answer, anslen); }

/* res_querydomain: name.domain. */
static int eg_res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer, int anslen) {
  char full[NS_MAXDNAME];
  size_t nl = name ? strlen(name) : 0;
  if (domain == NULL || domain[0] == '\0') {
    if (nl >= sizeof full) goto toolong;
    memcpy(full, name, nl + 1);
  } else if (snprintf(full, sizeof full, "%s.%s", name, domain) >= (int)sizeof full) {
    goto toolong;
  }
  return eg_res_query(full, class, type, answer, anslen);
toolong:
  h_errno = NO_RECOVERY;
  errno = EMSGSIZE;
  return -1;
}
EG_EXPORT int res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer, int anslen) { return eg_res_querydomain(name, domain, class, type, answer, anslen); }
EG_EXPORT int __res_querydomain(const char *name, const char *domain, int class, int type, unsigned char *answer, int anslen) { return eg_res_querydomain(name, domain, class, type, answer, anslen); }
EG_EXPORT int res_nquerydomain(res_state st, const char *name, const char *domain, int class, int type, unsigned char *answer, int anslen) {
  (void)st;
  return eg_res_querydomain(name, domain, class, type, answer, anslen);
}
EG_EXPORT int __res_nquerydomain(res_state st, const char *name, const char *domain, int class, int type, unsigned char *answer, int anslen) { return res_nquerydomain(st, name, domain, class, type, answer, anslen); }

/* res_send: a query the application built itself. */
static int eg_res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen) {
  eg_ready();
  int sent = 0;
  int n = eg_exchange(msg, msglen, answer, anslen, &sent);
  if (n <= 0) {
    errno = n < 0 ? ENETUNREACH : ETIMEDOUT;
    return -1;
  }
  return n;
}
EG_EXPORT int res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen) { return eg_res_send(msg, msglen, answer, anslen); }
EG_EXPORT int __res_send(const unsigned char *msg, int msglen, unsigned char *answer, int anslen) { return eg_res_send(msg, msglen, answer, anslen); }
EG_EXPORT int res_nsend(res_state st, const unsigned char *msg, int msglen, unsigned char *answer, int anslen) {
  (void)st;
  return eg_res_send(msg, msglen, answer, anslen);
}
EG_EXPORT int __res_nsend(res_state st, const unsigned char *msg, int msglen, unsigned char *answer, int anslen) { return res_nsend(st, msg, msglen, answer, anslen); }

/* Expands a (possibly compressed) name at off into out as text. Returns 0, or -1 when malformed. */
static int eg_expand(const unsigned char *m, int len, int off, char *out, size_t cap) {
  size_t w = 0;
  for (int hops = 0; hops < 64 && off < len; hops++) {
    unsigned char l = m[off];
    if (l == 0) {
      out[w] = '\0';
      return w > 0 ? 0 : -1;
    }
    if ((l & 0xC0) == 0xC0) {
      if (off + 1 >= len) return -1;
      off = ((l & 0x3F) << 8) | m[off + 1];
      continue;
    }
    if (off + 1 + l > len || w + l + 2 > cap) return -1;
    if (w) out[w++] = '.';
    memcpy(out + w, m + off + 1, l);
    w += l;
    off += 1 + l;
  }
  return -1;
}

/* The first PTR target in an answer, as text. 0 found, -1 none. */
static int eg_first_ptr(const unsigned char *m, int len, char *out, size_t cap) {
  int qd = (m[4] << 8) | m[5], an = (m[6] << 8) | m[7], o = 12;
  char skip[NS_MAXDNAME];
  for (int i = 0; i < qd + an; i++) {
    while (o < len && m[o] != 0 && (m[o] & 0xC0) != 0xC0) o += m[o] + 1;
    if (o >= len) return -1;
    o += (m[o] & 0xC0) == 0xC0 ? 2 : 1;
    if (i < qd) {
      o += 4;
      continue;
    }
    if (o + 10 > len) return -1;
    int type = (m[o] << 8) | m[o + 1], rdlen = (m[o + 8] << 8) | m[o + 9];
    o += 10;
    if (o + rdlen > len) return -1;
    if (type == 12 && eg_expand(m, len, o, skip, sizeof skip) == 0) {
      size_t l = strlen(skip);
      if (l + 1 > cap) return -1;
      memcpy(out, skip, l + 1);
      return 0;
    }
    o += rdlen;
  }
  return -1;
}

/* The reverse-lookup name of an address: d.c.b.a.in-addr.arpa or the nibbles of ip6.arpa. */
static int eg_reverse_name(const struct sockaddr *sa, char *out, size_t cap) {
  if (sa->sa_family == AF_INET) {
    const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    return snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]) < (int)cap ? 0 : -1;
  }
  const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b)) {
    return snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", b[15], b[14], b[13], b[12]) < (int)cap ? 0 : -1;
  }
  static const char hex[] = "0123456789abcdef";
  size_t w = 0;
  if (cap < 16 * 4 + 9) return -1;
  for (int i = 15; i >= 0; i--) {
    out[w++] = hex[b[i] & 0xF];
    out[w++] = '.';
    out[w++] = hex[b[i] >> 4];
    out[w++] = '.';
  }
  memcpy(out + w, "ip6.arpa", 9);
  return 0;
}

/* Whether /etc/hosts lists this address (then the real getnameinfo answers from there). */
static int eg_addr_in_hosts(const struct sockaddr *sa) {
  FILE *f = fopen("/etc/hosts", "re");
  if (f == NULL) return 0;
  char line[1024];
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    char *save = NULL, *tok = strtok_r(line, " \t\r\n#", &save);
    if (tok == NULL) continue;
    unsigned char a[16];
    if (sa->sa_family == AF_INET && inet_pton(AF_INET, tok, a) == 1) found = memcmp(a, &((const struct sockaddr_in *)sa)->sin_addr, 4) == 0;
    else if (sa->sa_family == AF_INET6 && inet_pton(AF_INET6, tok, a) == 1) found = memcmp(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16) == 0;
  }
  fclose(f);
  return found;
}

EG_EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv, socklen_t servlen, int flags) {
  eg_ready();
  getnameinfo_fn real = eg.getnameinfo;
  struct sockaddr_storage ss;
  int wants_name = host != NULL && hostlen > 0 && !(flags & NI_NUMERICHOST) && sa != NULL &&
                   ((sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) || (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)));
  if (wants_name) {
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, sa, salen < (socklen_t)sizeof ss ? salen : sizeof ss);
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
    if (eg_is_loopback(&ss) || eg_addr_in_hosts(sa) || (ss.ss_family == AF_INET6 && (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_UNSPECIFIED(a6)))) wants_name = 0;
  }
  if (!wants_name) return real(sa, salen, host, hostlen, serv, servlen, flags);

  /* The service part and the numeric fallback come from the real function, without any lookup of the host. */
  int rc = real(sa, salen, host, hostlen, serv, servlen, (flags & ~NI_NAMEREQD) | NI_NUMERICHOST);
  if (rc != 0) return rc;
  char rname[80], name[NS_MAXDNAME];
  unsigned char q[300], r[1500];
  int qlen = eg_reverse_name(sa, rname, sizeof rname) == 0 ? eg_build_query(q, sizeof q, eg_query_id(), rname, 1, 12) : -1;
  int sent = 0, n = qlen > 0 ? eg_exchange(q, qlen, r, sizeof r, &sent) : -1;
  if (n > 0 && (r[3] & 0x0F) == 0 && eg_first_ptr(r, n, name, sizeof name) == 0) {
    if (flags & NI_NOFQDN) {
      char *dot = strchr(name, '.');
      if (dot) *dot = '\0';
    }
    if (strlen(name) + 1 > hostlen) return EAI_OVERFLOW;
    memcpy(host, name, strlen(name) + 1);
    eg_debug("getnameinfo %s: %s through the egress", host, name);
    return 0;
  }
  eg_debug("getnameinfo: no name through the egress (%s)", n < 0 ? "cannot send" : "no PTR");
  if (flags & NI_NAMEREQD) return n < 0 ? EAI_FAIL : n == 0 ? EAI_AGAIN : EAI_NONAME;
  return 0; /* host already holds the numeric form */
}
