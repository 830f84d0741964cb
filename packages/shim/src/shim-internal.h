/* Shared between the socket hooks (shim.c) and the DNS part (dns.c) of libegress-shim. Not installed. */
#ifndef EGRESS_SHIM_INTERNAL_H
#define EGRESS_SHIM_INTERNAL_H

#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define EG_EXPORT __attribute__((visibility("default")))
#define EG_MAX_DNS 3

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);
typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef struct hostent *(*gethostbyname2_fn)(const char *, int);
typedef int (*getnameinfo_fn)(const struct sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int);
typedef int (*gethostbyname2_r_fn)(const char *, int, struct hostent *, char *, size_t, struct hostent **, int *);

/* The real functions and the configuration: written once under pthread_once, read-only afterwards. */
struct eg_config {
  connect_fn connect;
  bind_fn bind;
  sendto_fn sendto;
  sendmsg_fn sendmsg;
  sendmmsg_fn sendmmsg;
  getaddrinfo_fn getaddrinfo;
  gethostbyname2_r_fn gethostbyname2_r;
  gethostbyname2_fn gethostbyname2;
  getnameinfo_fn getnameinfo;
  int have_v4, have_v6, have_iface, debug;
  struct in_addr v4;
  struct in6_addr v6;
  char iface[IF_NAMESIZE];
  /* Resolvers of the egress (EGRESS_DNS), asked through the egress by the getaddrinfo hook. */
  int ndns;
  struct sockaddr_storage dns[EG_MAX_DNS];
};

extern struct eg_config eg;

/* Resolves the real functions and reads the environment, once. */
void eg_ready(void);
/* One diagnostic line on stderr when EGRESS_SHIM_DEBUG is set. */
__attribute__((format(printf, 1, 2))) void eg_debug(const char *fmt, ...);
/* Binds an unbound socket to the egress for a destination: 0 proceed, -1 fail closed. */
int eg_apply(int fd, const struct sockaddr *dest, socklen_t destlen, const char *what);
/* Resolves the real exec functions and reads EGRESS_ALLOW_UNCOVERED (exec-guard.c). */
void eg_exec_init(void);
/* Parses EGRESS_DNS (comma/space separated addresses) into eg.dns. */
void eg_dns_init(const char *list);
/* Resolvers to ask through the egress: EGRESS_DNS, else resolv.conf's non-loopback ones. */
int eg_servers(struct sockaddr_storage *out, int max);
/* Whether an address is loopback (including v4-mapped 127/8). */
int eg_is_loopback(const struct sockaddr_storage *ss);
/* Whether a getaddrinfo-style lookup of node needs DNS (not numeric, localhost or in /etc/hosts). */
int eg_needs_dns(const char *node, const struct addrinfo *hints);
/* Encodes a query (RD set); returns its length or -1. */
int eg_build_query(unsigned char *buf, size_t cap, uint16_t id, const char *name, uint16_t qclass, uint16_t qtype);
/* A random query id. */
uint16_t eg_query_id(void);
/* Sends a raw query through the egress to its resolvers: reply length, 0 no reply, -1 nothing could be sent. */
int eg_exchange(const unsigned char *q, int qlen, unsigned char *resp, int cap, int *sent);

#endif
