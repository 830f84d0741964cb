/*
 * Name resolution through the egress. glibc's own resolver talks to the name server with internal calls that an
 * LD_PRELOAD library cannot see, so its queries would leave directly. The getaddrinfo() and gethostbyname*()
 * hooks therefore resolve
 * names that need DNS itself: A/AAAA queries over UDP from a socket bound to the egress (so the client's DNS
 * handling and kill switch apply), to the egress's resolvers (EGRESS_DNS), else to the non-loopback name servers
 * of /etc/resolv.conf. Numeric hosts, "localhost" and names in /etc/hosts go to the real getaddrinfo. When no
 * query can be sent through the egress, the lookup fails (EAI_FAIL); it never falls back to a direct query.
 * Results are built by the real getaddrinfo from numeric addresses, so freeaddrinfo() frees them as usual.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shim-internal.h"

#define EG_MAX_ADDRS 32
#define EG_TIMEOUT_MS 2000
#define EG_ATTEMPTS 2

struct eg_addr {
  int family;
  unsigned char bytes[16];
};

struct eg_answer {
  int n;
  struct eg_addr a[EG_MAX_ADDRS];
};

/* Stores one resolver address in eg.dns (port 53). */
static void eg_dns_add(const char *text) {
  if (eg.ndns >= EG_MAX_DNS) return;
  struct sockaddr_storage *ss = &eg.dns[eg.ndns];
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(53);
    eg.ndns++;
  } else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(53);
    eg.ndns++;
  } else {
    eg_debug("EGRESS_DNS entry '%s' is not an address; ignored", text);
  }
}

void eg_dns_init(const char *list) {
  if (list == NULL) return;
  char buf[256];
  size_t len = strlen(list);
  if (len >= sizeof buf) len = sizeof buf - 1;
  memcpy(buf, list, len);
  buf[len] = '\0';
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) eg_dns_add(tok);
}

/* Whether a destination is a loopback address (a local stub resolver the egress cannot reach). */
int eg_is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* Name servers to ask: EGRESS_DNS, else resolv.conf's non-loopback ones. Returns how many were written. */
int eg_servers(struct sockaddr_storage *out, int max) {
  int n = 0;
  for (int i = 0; i < eg.ndns && n < max; i++) out[n++] = eg.dns[i];
  if (n > 0) return n;
  FILE *f = fopen("/etc/resolv.conf", "re");
  if (f == NULL) return 0;
  char line[512];
  while (n < max && fgets(line, sizeof line, f) != NULL) {
    char *save = NULL, *kw = strtok_r(line, " \t\r\n", &save);
    if (kw == NULL || strcmp(kw, "nameserver") != 0) continue;
    char *addr = strtok_r(NULL, " \t\r\n", &save);
    if (addr == NULL) continue;
    char *pct = strchr(addr, '%');
    if (pct != NULL) *pct = '\0';
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
      s4->sin_family = AF_INET;
      s4->sin_port = htons(53);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(53);
    } else {
      continue;
    }
    if (!eg_is_loopback(&ss)) out[n++] = ss;
  }
  fclose(f);
  return n;
}

/* Whether `name` is listed in /etc/hosts (then the real getaddrinfo answers it from there, without DNS). */
static int eg_in_hosts(const char *name) {
  FILE *f = fopen("/etc/hosts", "re");
  if (f == NULL) return 0;
  char line[1024];
  size_t nlen = strlen(name);
  if (nlen > 0 && name[nlen - 1] == '.') nlen--;
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    char *hash = strchr(line, '#');
    if (hash != NULL) *hash = '\0';
    char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); /* the address */
    if (tok == NULL) continue;
    while (!found && (tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) found = strlen(tok) == nlen && strncasecmp(tok, name, nlen) == 0;
  }
  fclose(f);
  return found;
}

/* Encodes a DNS query (RD set) for name/class/type into buf; returns its length or -1. */
int eg_build_query(unsigned char *buf, size_t cap, uint16_t id, const char *name, uint16_t qclass, uint16_t qtype) {
  size_t len = strlen(name);
  if (len > 0 && name[len - 1] == '.') len--;
  if (len == 0 || len > 253 || cap < 12 + len + 2 + 4) return -1;
  memset(buf, 0, 12);
  buf[0] = (unsigned char)(id >> 8);
  buf[1] = (unsigned char)id;
  buf[2] = 0x01; /* RD */
  buf[5] = 1;    /* QDCOUNT */
  size_t o = 12, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || name[i] == '.') {
      size_t l = i - start;
      if (l == 0 || l > 63) return -1;
      buf[o++] = (unsigned char)l;
      memcpy(buf + o, name + start, l);
      o += l;
      start = i + 1;
    }
  }
  buf[o++] = 0;
  buf[o++] = (unsigned char)(qtype >> 8);
  buf[o++] = (unsigned char)qtype;
  buf[o++] = (unsigned char)(qclass >> 8);
  buf[o++] = (unsigned char)qclass;
  return (int)o;
}

/* Skips a (possibly compressed) name; returns the offset after it or -1. */
static long eg_skip_name(const unsigned char *m, size_t len, size_t o) {
  for (int guard = 0; guard < 128 && o < len; guard++) {
    unsigned char l = m[o];
    if (l == 0) return (long)o + 1;
    if ((l & 0xC0) == 0xC0) return o + 1 < len ? (long)o + 2 : -1;
    o += (size_t)l + 1;
  }
  return -1;
}

/* Parses a response: rcode in *rcode; addresses of qtype appended to ans. Returns 0, or -1 when malformed. */
static int eg_parse(const unsigned char *m, size_t len, uint16_t id, uint16_t qtype, int *rcode, struct eg_answer *ans) {
  if (len < 12 || ((m[0] << 8) | m[1]) != id || !(m[2] & 0x80)) return -1;
  *rcode = m[3] & 0x0F;
  int qd = (m[4] << 8) | m[5], an = (m[6] << 8) | m[7];
  long o = 12;
  for (int i = 0; i < qd; i++) {
    o = eg_skip_name(m, len, (size_t)o);
    if (o < 0 || (size_t)o + 4 > len) return -1;
    o += 4;
  }
  for (int i = 0; i < an; i++) {
    o = eg_skip_name(m, len, (size_t)o);
    if (o < 0 || (size_t)o + 10 > len) return -1;
    uint16_t type = (uint16_t)((m[o] << 8) | m[o + 1]);
    uint16_t rdlen = (uint16_t)((m[o + 8] << 8) | m[o + 9]);
    o += 10;
    if ((size_t)o + rdlen > len) return -1;
    if (type == qtype && ans->n < EG_MAX_ADDRS && ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16))) {
      struct eg_addr *a = &ans->a[ans->n++];
      a->family = type == 1 ? AF_INET : AF_INET6;
      memcpy(a->bytes, m + o, rdlen);
    }
    o += rdlen;
  }
  return 0;
}

/* A random query id (getrandom; falls back to time and pid). */
uint16_t eg_query_id(void) {
  uint16_t id;
  if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) id = (uint16_t)(time(NULL) ^ getpid());
  return id;
}

/*
 * Sends one query to one server from a socket bound to the egress and waits for the reply with the same id.
 * Returns the reply's length, 0 when none came in time, -1 when the query could not be sent through the egress.
 */
static int eg_exchange_one(const struct sockaddr_storage *server, const unsigned char *q, int qlen, unsigned char *resp, int cap) {
  if (qlen < 12) return -1;
  socklen_t slen = server->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  int fd = socket(server->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* Bind to the egress first; connect so only the server's replies are read. */
  if (eg_apply(fd, (const struct sockaddr *)server, slen, "dns") != 0 || eg.connect(fd, (const struct sockaddr *)server, slen) != 0) {
    close(fd);
    return -1;
  }
  int result = 0;
  for (int attempt = 0; attempt < EG_ATTEMPTS && result == 0; attempt++) {
    if (send(fd, q, (size_t)qlen, 0) != qlen) {
      result = -1;
      break;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (result == 0 && poll(&p, 1, EG_TIMEOUT_MS) == 1) {
      ssize_t n = recv(fd, resp, (size_t)cap, 0);
      if (n < 0) break;
      if (n >= 12 && resp[0] == q[0] && resp[1] == q[1] && (resp[2] & 0x80)) result = (int)n;
    }
  }
  close(fd);
  return result;
}

int eg_exchange(const unsigned char *q, int qlen, unsigned char *resp, int cap, int *sent) {
  struct sockaddr_storage servers[EG_MAX_DNS];
  int ns = eg_servers(servers, EG_MAX_DNS);
  *sent = 0;
  for (int i = 0; i < ns; i++) {
    int r = eg_exchange_one(&servers[i], q, qlen, resp, cap);
    if (r >= 0) *sent = 1;
    if (r > 0) {
      int rcode = resp[3] & 0x0F;
      /* SERVFAIL or REFUSED: another server may know better. */
      if ((rcode == 2 || rcode == 5) && i + 1 < ns) continue;
      return r;
    }
  }
  return *sent ? 0 : -1;
}

/* Asks the egress's resolvers one question. 0 answered (rcode set), 1 no answer in time, -1 cannot send. */
static int eg_ask(const char *name, uint16_t qtype, int *rcode, struct eg_answer *ans) {
  unsigned char q[300], r[1500];
  uint16_t id = eg_query_id();
  int qlen = eg_build_query(q, sizeof q, id, name, 1, qtype);
  if (qlen < 0) return -1;
  int sent = 0;
  int n = eg_exchange(q, qlen, r, sizeof r, &sent);
  if (n < 0) return -1;
  if (n == 0) return 1;
  return eg_parse(r, (size_t)n, id, qtype, rcode, ans) == 0 ? 0 : 1;
}

/* Resolves name (A and/or AAAA) through the egress. Returns 0 or an EAI_* code. */
static int eg_lookup(const char *name, int want4, int want6, struct eg_answer *ans) {
  struct sockaddr_storage servers[EG_MAX_DNS];
  if (eg_servers(servers, EG_MAX_DNS) == 0) {
    eg_debug("lookup %s: no resolver reachable through the egress (EGRESS_DNS unset, resolv.conf has only loopback)", name);
    return EAI_FAIL;
  }
  int nxdomain = 0;
  for (int t = 0; t < 2; t++) {
    if ((t == 0 && !want4) || (t == 1 && !want6)) continue;
    int rcode = 0;
    int r = eg_ask(name, t == 0 ? 1 : 28, &rcode, ans);
    if (r < 0) return EAI_FAIL;
    if (r > 0 || (rcode != 0 && rcode != 3)) return EAI_AGAIN;
    if (rcode == 3) {
      nxdomain = 1; /* the name does not exist: no need to ask for the other type */
      break;
    }
  }
  if (ans->n == 0) return nxdomain ? EAI_NONAME : EAI_NODATA;
  return 0;
}

/* Whether a lookup needs DNS (not numeric, not localhost, not in /etc/hosts, an IP family we can ask for). */
int eg_needs_dns(const char *node, const struct addrinfo *hints) {
  if (node == NULL || node[0] == '\0') return 0;
  if (hints != NULL && (hints->ai_flags & AI_NUMERICHOST)) return 0;
  int fam = hints != NULL ? hints->ai_family : AF_UNSPEC;
  if (fam != AF_UNSPEC && fam != AF_INET && fam != AF_INET6) return 0;
  unsigned char tmp[16];
  if (inet_pton(AF_INET, node, tmp) == 1 || inet_pton(AF_INET6, node, tmp) == 1 || strchr(node, '%') != NULL) return 0;
  struct addrinfo numeric = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC}, *probe = NULL;
  if (eg.getaddrinfo(node, NULL, &numeric, &probe) == 0) { /* e.g. "10.1" or "0x7f.1" */
    freeaddrinfo(probe);
    return 0;
  }
  size_t len = strlen(node);
  if (len > 0 && node[len - 1] == '.') len--;
  if ((len == 9 && strncasecmp(node, "localhost", 9) == 0) || (len > 10 && strncasecmp(node + len - 10, ".localhost", 10) == 0)) return 0;
  return !eg_in_hosts(node);
}

EG_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  eg_ready();
  if (!eg_needs_dns(node, hints)) return eg.getaddrinfo(node, service, hints, res);
  int fam = hints != NULL ? hints->ai_family : AF_UNSPEC;
  /* Only the families the egress carries: the other one could not be used anyway. */
  int want4 = eg.have_v4 && (fam == AF_UNSPEC || fam == AF_INET || (fam == AF_INET6 && hints != NULL && (hints->ai_flags & AI_V4MAPPED)));
  int want6 = eg.have_v6 && (fam == AF_UNSPEC || fam == AF_INET6);
  if (!want4 && !want6) {
    eg_debug("getaddrinfo %s: the egress has no address of the requested family", node);
    return EAI_NONAME;
  }
  struct eg_answer ans;
  memset(&ans, 0, sizeof ans);
  int rc = eg_lookup(node, want4, want6, &ans);
  if (rc != 0) {
    eg_debug("getaddrinfo %s: failed through the egress (%s)", node, gai_strerror(rc));
    return rc;
  }
  struct addrinfo *head = NULL, **tail = &head;
  for (int i = 0; i < ans.n; i++) {
    char text[INET6_ADDRSTRLEN];
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    if (hints != NULL) h = *hints;
    h.ai_flags = (h.ai_flags & ~(AI_CANONNAME | AI_ADDRCONFIG)) | AI_NUMERICHOST;
    h.ai_family = ans.a[i].family;
    h.ai_addr = NULL;
    h.ai_canonname = NULL;
    h.ai_next = NULL;
    /* An IPv4 answer for an AF_INET6 + AI_V4MAPPED request becomes ::ffff:a.b.c.d. */
    if (fam == AF_INET6 && ans.a[i].family == AF_INET) {
      unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      memcpy(mapped + 12, ans.a[i].bytes, 4);
      inet_ntop(AF_INET6, mapped, text, sizeof text);
      h.ai_family = AF_INET6;
    } else {
      inet_ntop(ans.a[i].family, ans.a[i].bytes, text, sizeof text);
    }
    struct addrinfo *part = NULL;
    int r = eg.getaddrinfo(text, service, &h, &part);
    if (r != 0) {
      if (head != NULL) freeaddrinfo(head);
      return r;
    }
    *tail = part;
    while (*tail != NULL) tail = &(*tail)->ai_next;
  }
  if (head != NULL && hints != NULL && (hints->ai_flags & AI_CANONNAME)) head->ai_canonname = strdup(node);
  eg_debug("getaddrinfo %s: %d address(es) through the egress", node, ans.n);
  *res = head;
  return head != NULL ? 0 : EAI_NONAME;
}

/* Lays out a hostent for name/af from ans in the caller's buffer. 0, or ERANGE when buf is too small. */
static int eg_fill_hostent(const char *name, int af, const struct eg_answer *ans, struct hostent *ret, char *buf, size_t buflen) {
  int alen = af == AF_INET ? 4 : 16, n = 0;
  for (int i = 0; i < ans->n; i++) n += ans->a[i].family == af;
  size_t nlen = strlen(name) + 1;
  size_t pad = (sizeof(char *) - ((uintptr_t)buf % sizeof(char *))) % sizeof(char *);
  size_t need = pad + sizeof(char *) * (size_t)(n + 2) + (size_t)(alen * n) + nlen;
  if (buflen < need) return ERANGE;
  char **ptrs = (char **)(void *)(buf + pad);
  char *addrs = (char *)(ptrs + n + 2);
  char *hname = addrs + alen * n;
  int k = 0;
  for (int i = 0; i < ans->n; i++) {
    if (ans->a[i].family != af) continue;
    memcpy(addrs + alen * k, ans->a[i].bytes, (size_t)alen);
    ptrs[k] = addrs + alen * k;
    k++;
  }
  ptrs[k] = NULL;            /* end of h_addr_list */
  ptrs[n + 1] = NULL;        /* h_aliases: empty */
  memcpy(hname, name, nlen);
  ret->h_name = hname;
  ret->h_aliases = &ptrs[n + 1];
  ret->h_addrtype = af;
  ret->h_length = alen;
  ret->h_addr_list = ptrs;
  return 0;
}

EG_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen, struct hostent **result, int *h_errnop) {
  eg_ready();
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = af;
  if ((af != AF_INET && af != AF_INET6) || !eg_needs_dns(name, &hints)) return eg.gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
  *result = NULL;
  if ((af == AF_INET && !eg.have_v4) || (af == AF_INET6 && !eg.have_v6)) {
    eg_debug("gethostbyname %s: the egress has no address of the requested family", name);
    *h_errnop = HOST_NOT_FOUND;
    return 0;
  }
  struct eg_answer ans;
  memset(&ans, 0, sizeof ans);
  int rc = eg_lookup(name, af == AF_INET, af == AF_INET6, &ans);
  if (rc != 0) {
    eg_debug("gethostbyname %s: failed through the egress (%s)", name, gai_strerror(rc));
    *h_errnop = rc == EAI_AGAIN ? TRY_AGAIN : rc == EAI_FAIL ? NO_RECOVERY : rc == EAI_NODATA ? NO_DATA : HOST_NOT_FOUND;
    return rc == EAI_AGAIN ? EAGAIN : 0;
  }
  int e = eg_fill_hostent(name, af, &ans, ret, buf, buflen);
  if (e != 0) {
    *h_errnop = NETDB_INTERNAL;
    return e;
  }
  *result = ret;
  *h_errnop = NETDB_SUCCESS;
  return 0;
}

EG_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen, struct hostent **result, int *h_errnop) {
  return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

/* The non-reentrant forms keep their result per thread (the API returns storage the caller does not own). */
static __thread struct {
  struct hostent h;
  char buf[2048];
} eg_tls_host;

EG_EXPORT struct hostent *gethostbyname2(const char *name, int af) {
  eg_ready();
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = af;
  if ((af != AF_INET && af != AF_INET6) || !eg_needs_dns(name, &hints)) return eg.gethostbyname2(name, af);
  struct hostent *result = NULL;
  int herr = 0;
  int rc = gethostbyname2_r(name, af, &eg_tls_host.h, eg_tls_host.buf, sizeof eg_tls_host.buf, &result, &herr);
  if (rc != 0 || result == NULL) {
    h_errno = herr;
    return NULL;
  }
  return result;
}

EG_EXPORT struct hostent *gethostbyname(const char *name) {
  return gethostbyname2(name, AF_INET);
}
