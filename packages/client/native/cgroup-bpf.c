// egress-cgroup-bpf: attaches egress's cgroup BPF programs to ONE egress cgroup, so cgroup selection does not depend
// on the nftables table:
//   - a BPF_PROG_TYPE_CGROUP_SOCK program at BPF_CGROUP_INET_SOCK_CREATE that sets the socket's mark bit
//     (sk->mark = (sk->mark & ~MASK) | MARK) as every IPv4/IPv6 socket is created in the cgroup or below it, so the
//     egress's `fwmark MARK/MASK` rule and its prohibit fallback route it even after `nft flush ruleset`;
//   - BPF_PROG_TYPE_CGROUP_SOCK_ADDR programs at connect4/connect6/sendmsg4/sendmsg6 that refuse (EPERM) DNS to a
//     loopback resolver (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104, port 53): a local stub would forward the query by
//     the normal route whenever the nft redirect is missing.
// The instructions are assembled here (no clang, no libbpf); attached with BPF_F_ALLOW_MULTI so other programs on
// the same cgroup keep working; identified later by their names (egmark_<MARK>, egdns_*).
//
// `attach-mark` attaches the mark program only: for a cgroup someone else runs (a selected systemd unit, a --cgroup
// path), whose DNS goes to the host's resolver as configured and is redirected by nft.
//
// usage: egress-cgroup-bpf attach|attach-mark CGROUP_DIR MARK MASK | detach CGROUP_DIR | query CGROUP_DIR
// Exit codes: 0 ok, 2 bad arguments (nothing done), 1 the kernel refused (message on stderr).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NAME_MARK "egmark_"
#define NAME_DNS "egdns_"

static int sys_bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int usage(const char *why) {
  fprintf(stderr, "egress-cgroup-bpf: %s\nusage: egress-cgroup-bpf attach|attach-mark CGROUP_DIR MARK MASK | detach CGROUP_DIR | query CGROUP_DIR\n", why);
  return 2;
}

/* Instruction builders (the kernel's filter.h macros, which are not exported to user space). */
static struct bpf_insn ins(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof(i));
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}
#define LDX_W(dst, src, off) ins(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define STX_W(dst, src, off) ins(BPF_STX | BPF_MEM | BPF_W, dst, src, off, 0)
#define AND32(dst, imm) ins(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm)
#define OR32(dst, imm) ins(BPF_ALU | BPF_OR | BPF_K, dst, 0, 0, imm)
#define MOV64(dst, imm) ins(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define JNE32(dst, imm, off) ins(BPF_JMP32 | BPF_JNE | BPF_K, dst, 0, off, imm)
#define EXIT() ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Parses a 32-bit number (decimal or 0x hex); returns 0 on success. */
static int parse_u32(const char *s, uint32_t *out) {
  char *end = NULL;
  errno = 0;
  if (!*s || *s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end || v > 0xffffffffULL) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Opens the cgroup directory; refuses anything that is not a non-root cgroup v2 directory. */
static int open_cgroup(const char *dir) {
  if (dir[0] != '/') return usage("CGROUP_DIR: expected an absolute path"), -2;
  if (strstr(dir, "/../") || strstr(dir, "/./") || (strlen(dir) >= 3 && !strcmp(dir + strlen(dir) - 3, "/..")))
    return usage("CGROUP_DIR: expected a path without '.' or '..' components"), -2;
  char probe[4096];
  struct stat st;
  if (snprintf(probe, sizeof(probe), "%s/cgroup.procs", dir) >= (int)sizeof(probe)) return usage("CGROUP_DIR: path too long"), -2;
  if (stat(probe, &st) != 0) {
    fprintf(stderr, "egress-cgroup-bpf: CGROUP_DIR: '%s' is not a cgroup v2 directory (no cgroup.procs)\n", dir);
    return -2;
  }
  /* The root cgroup has no cgroup.type: egress never attaches to a root (or otherwise shared) cgroup. */
  snprintf(probe, sizeof(probe), "%s/cgroup.type", dir);
  if (stat(probe, &st) != 0) {
    fprintf(stderr, "egress-cgroup-bpf: CGROUP_DIR: '%s' is a root cgroup; egress attaches only to its own cgroups\n", dir);
    return -2;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fprintf(stderr, "egress-cgroup-bpf: open %s: %s\n", dir, strerror(errno));
  return fd;
}

static int load(enum bpf_prog_type type, enum bpf_attach_type expected, const struct bpf_insn *insns, unsigned n, const char *name) {
  static char log[65536];
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.prog_type = type;
  a.expected_attach_type = expected;
  a.insns = (uint64_t)(uintptr_t)insns;
  a.insn_cnt = n;
  a.license = (uint64_t)(uintptr_t) "GPL";
  a.log_buf = (uint64_t)(uintptr_t)log;
  a.log_size = sizeof(log);
  a.log_level = 1;
  strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
  log[0] = 0;
  int fd = sys_bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) fprintf(stderr, "egress-cgroup-bpf: BPF_PROG_LOAD %s: %s\n%s", name, strerror(errno), log);
  return fd;
}

/* Ids of the programs attached directly to this cgroup at `type` (not inherited ones). */
static int query(int cg, enum bpf_attach_type type, uint32_t *ids, uint32_t *count) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.query.target_fd = cg;
  a.query.attach_type = type;
  a.query.prog_ids = (uint64_t)(uintptr_t)ids;
  a.query.prog_cnt = *count;
  if (sys_bpf(BPF_PROG_QUERY, &a) < 0) return -1;
  *count = a.query.prog_cnt;
  return 0;
}

/* The name of a program by id, and an fd to it (closed by the caller); -1 when it is gone. */
static int prog_by_id(uint32_t id, char name[BPF_OBJ_NAME_LEN]) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.prog_id = id;
  int fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
  if (fd < 0) return -1;
  struct bpf_prog_info info;
  memset(&info, 0, sizeof(info));
  memset(&a, 0, sizeof(a));
  a.info.bpf_fd = fd;
  a.info.info_len = sizeof(info);
  a.info.info = (uint64_t)(uintptr_t)&info;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0) {
    close(fd);
    return -1;
  }
  memcpy(name, info.name, BPF_OBJ_NAME_LEN);
  name[BPF_OBJ_NAME_LEN - 1] = 0;
  return fd;
}

static int detach_fd(int cg, int prog, enum bpf_attach_type type) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.target_fd = cg;
  a.attach_bpf_fd = prog;
  a.attach_type = type;
  return sys_bpf(BPF_PROG_DETACH, &a);
}

/*
 * Walks egress's programs attached to the cgroup at `type`: detaches those whose name starts with "eg" and is not
 * `keep`; returns 1 when `keep` is attached already, 0 when not, -1 on error. With print, lists them instead.
 */
static int sweep(int cg, enum bpf_attach_type type, const char *label, const char *keep, int print) {
  uint32_t ids[64];
  uint32_t count = 64;
  if (query(cg, type, ids, &count) < 0) {
    if (errno == EINVAL) return 0; /* attach type unknown to this kernel */
    fprintf(stderr, "egress-cgroup-bpf: BPF_PROG_QUERY %s: %s\n", label, strerror(errno));
    return -1;
  }
  int found = 0;
  for (uint32_t i = 0; i < count; i++) {
    char name[BPF_OBJ_NAME_LEN];
    int fd = prog_by_id(ids[i], name);
    if (fd < 0) continue;
    if (strncmp(name, NAME_MARK, strlen(NAME_MARK)) && strncmp(name, NAME_DNS, strlen(NAME_DNS))) {
      close(fd);
      continue;
    }
    if (print) {
      printf("%s %s\n", label, name);
    } else if (keep && !strcmp(name, keep) && !found) {
      found = 1;
    } else if (detach_fd(cg, fd, type) < 0) {
      fprintf(stderr, "egress-cgroup-bpf: BPF_PROG_DETACH %s %s: %s\n", label, name, strerror(errno));
      close(fd);
      return -1;
    } else {
      fprintf(stderr, "[#] bpf detach %s %s\n", label, name);
    }
    close(fd);
  }
  return found;
}

static int attach(int cg, enum bpf_prog_type ptype, enum bpf_attach_type type, const char *label, const struct bpf_insn *insns, unsigned n, const char *name, const char *dir) {
  int have = sweep(cg, type, label, name, 0);
  if (have < 0) return -1;
  if (have) return 0;
  int prog = load(ptype, type, insns, n, name);
  if (prog < 0) return -1;
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.target_fd = cg;
  a.attach_bpf_fd = prog;
  a.attach_type = type;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  int r = sys_bpf(BPF_PROG_ATTACH, &a);
  if (r < 0) fprintf(stderr, "egress-cgroup-bpf: BPF_PROG_ATTACH %s: %s\n", label, strerror(errno));
  else fprintf(stderr, "[#] bpf attach %s %s %s\n", label, name, dir);
  close(prog);
  return r;
}

/* The DNS guard for IPv4 destinations: refuse 127.0.0.0/8 port 53. ctx is struct bpf_sock_addr. */
static unsigned dns4(struct bpf_insn *p) {
  unsigned n = 0;
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock_addr, user_port));
  p[n++] = JNE32(BPF_REG_2, (int32_t)htons(53), 5);
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock_addr, user_ip4));
  p[n++] = AND32(BPF_REG_2, (int32_t)htonl(0xff000000u));
  p[n++] = JNE32(BPF_REG_2, (int32_t)htonl(0x7f000000u), 2);
  p[n++] = MOV64(BPF_REG_0, 0); /* refuse: EPERM */
  p[n++] = EXIT();
  p[n++] = MOV64(BPF_REG_0, 1);
  p[n++] = EXIT();
  return n;
}

/* The DNS guard for IPv6 destinations: refuse ::1 and ::ffff:127.0.0.0/104, port 53. */
static unsigned dns6(struct bpf_insn *p) {
  unsigned n = 0;
  const int16_t ip6 = offsetof(struct bpf_sock_addr, user_ip6);
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock_addr, user_port));
  p[n++] = JNE32(BPF_REG_2, (int32_t)htons(53), 14); /* -> allow */
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, ip6);
  p[n++] = JNE32(BPF_REG_2, 0, 12);
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, ip6 + 4);
  p[n++] = JNE32(BPF_REG_2, 0, 10);
  p[n++] = LDX_W(BPF_REG_2, BPF_REG_1, ip6 + 8);
  p[n++] = LDX_W(BPF_REG_3, BPF_REG_1, ip6 + 12);
  p[n++] = JNE32(BPF_REG_2, 0, 2); /* -> v4-mapped check */
  p[n++] = JNE32(BPF_REG_3, (int32_t)htonl(1), 6); /* ::1? else allow */
  p[n++] = ins(BPF_JMP | BPF_JA, 0, 0, 3, 0); /* -> refuse */
  p[n++] = JNE32(BPF_REG_2, (int32_t)htonl(0xffffu), 4); /* ::ffff:a.b.c.d? else allow */
  p[n++] = AND32(BPF_REG_3, (int32_t)htonl(0xff000000u));
  p[n++] = JNE32(BPF_REG_3, (int32_t)htonl(0x7f000000u), 2);
  p[n++] = MOV64(BPF_REG_0, 0); /* refuse */
  p[n++] = EXIT();
  p[n++] = MOV64(BPF_REG_0, 1); /* allow */
  p[n++] = EXIT();
  return n;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage("expected a command and CGROUP_DIR");
  const char *cmd = argv[1];
  const char *dir = argv[2];
  uint32_t mark = 0, mask = 0;
  const int mark_only = !strcmp(cmd, "attach-mark");
  if (!strcmp(cmd, "attach") || mark_only) {
    if (argc != 5) return usage("attach: expected CGROUP_DIR MARK MASK");
    if (parse_u32(argv[3], &mark) || mark == 0) return usage("MARK: expected a non-zero 32-bit number (decimal or 0x hex)");
    if (parse_u32(argv[4], &mask) || mask == 0) return usage("MASK: expected a non-zero 32-bit number (decimal or 0x hex)");
    if (mark & ~mask) return usage("MARK: expected only bits inside MASK");
  } else if (!strcmp(cmd, "detach") || !strcmp(cmd, "query")) {
    if (argc != 3) return usage("expected exactly CGROUP_DIR");
  } else {
    return usage("expected attach, attach-mark, detach or query");
  }
  int cg = open_cgroup(dir);
  if (cg == -2) return 2;
  if (cg < 0) return 1;

  int rc = 0;
  if (!strcmp(cmd, "query")) {
    if (sweep(cg, BPF_CGROUP_INET_SOCK_CREATE, "sock_create", NULL, 1) < 0 || sweep(cg, BPF_CGROUP_INET4_CONNECT, "connect4", NULL, 1) < 0 ||
        sweep(cg, BPF_CGROUP_INET6_CONNECT, "connect6", NULL, 1) < 0 || sweep(cg, BPF_CGROUP_UDP4_SENDMSG, "sendmsg4", NULL, 1) < 0 ||
        sweep(cg, BPF_CGROUP_UDP6_SENDMSG, "sendmsg6", NULL, 1) < 0)
      rc = 1;
  } else if (!strcmp(cmd, "detach")) {
    if (sweep(cg, BPF_CGROUP_INET_SOCK_CREATE, "sock_create", NULL, 0) < 0 || sweep(cg, BPF_CGROUP_INET4_CONNECT, "connect4", NULL, 0) < 0 ||
        sweep(cg, BPF_CGROUP_INET6_CONNECT, "connect6", NULL, 0) < 0 || sweep(cg, BPF_CGROUP_UDP4_SENDMSG, "sendmsg4", NULL, 0) < 0 ||
        sweep(cg, BPF_CGROUP_UDP6_SENDMSG, "sendmsg6", NULL, 0) < 0)
      rc = 1;
  } else {
    char name[BPF_OBJ_NAME_LEN];
    snprintf(name, sizeof(name), NAME_MARK "%08x", mark);
    struct bpf_insn mk[] = {
        LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock, mark)),
        AND32(BPF_REG_2, (int32_t)~mask),
        OR32(BPF_REG_2, (int32_t)mark),
        STX_W(BPF_REG_1, BPF_REG_2, offsetof(struct bpf_sock, mark)),
        MOV64(BPF_REG_0, 1),
        EXIT(),
    };
    struct bpf_insn d4[16], d6[24];
    unsigned n4 = dns4(d4), n6 = dns6(d6);
    /* The mark first: once it is on, the fwmark rule and its prohibit fallback hold whatever nft does. */
    if (attach(cg, BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, "sock_create", mk, sizeof(mk) / sizeof(mk[0]), name, dir) < 0)
      rc = 1;
    else if (mark_only)
      rc = 0;
    else if (attach(cg, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, "connect4", d4, n4, NAME_DNS "c4", dir) < 0 ||
        attach(cg, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, "sendmsg4", d4, n4, NAME_DNS "s4", dir) < 0 ||
        attach(cg, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, "connect6", d6, n6, NAME_DNS "c6", dir) < 0 ||
        attach(cg, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG, "sendmsg6", d6, n6, NAME_DNS "s6", dir) < 0)
      rc = 1;
  }
  close(cg);
  return rc;
}
