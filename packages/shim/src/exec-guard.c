/*
 * exec-guard: the execve family of libegress-shim. A program started through the shim may start others (env X=1 app,
 * sh -c, timeout, nice, xargs, a browser's helpers). The shim loads into each dynamically linked one, but not into a
 * statically linked program, a setuid/setgid one or one with file capabilities (the loader drops LD_PRELOAD), or one of another ELF class/machine, and
 * a Go program (static or cgo) makes its own system calls: their traffic would leave by the normal route. So before
 * an exec the target is inspected, and an uncovered one is refused with EACCES and one line on stderr naming it and
 * `egress-client run`, unless EGRESS_ALLOW_UNCOVERED=1 (exec --allow-uncovered), where it starts with a warning line.
 * Nor is it refused when the process is in the egress's cgroup: `exec` with a running supervisor places the app there
 * and sets EGRESS_CGROUP to that cgroup (after the placement succeeded); the kernel then selects the traffic of every
 * program in it, static, Go or setuid alike. The guard trusts the variable only when /proc/self/cgroup's cgroup2 line
 * is that cgroup (or below it), so a program moved out again is guarded as before.
 * So is any program about to start with an environment that no longer preloads the shim (env -i, env -u LD_PRELOAD,
 * a launcher that clears it): it would start without the shim and leave by the normal route.
 *
 * Hooked: execve, execv, execvp, execvpe, execl, execlp, execle, fexecve, posix_spawn, posix_spawnp. Not hooked:
 * execveat and raw syscalls (a program making its own exec syscalls makes its own connects too).
 *
 * Safe after fork() and vfork(): no malloc, no stdio, no locks; only open/fstat/fgetxattr/pread/close/access/writev,
 * and about 6.5 KiB of stack at the deepest (gcc -fstack-usage: PATH search 4 KiB, interpreter paths 2 x 256 bytes,
 * one 1 KiB read buffer). Reads the ELF header, at most EG_MAX_PHDRS program headers, EG_MAX_NOTE bytes of each of
 * at most EG_MAX_NOTES PT_NOTE segments and at most EG_MAX_SHDRS section headers with their names; never the whole
 * file.
 * The PATH search of execvp/posix_spawnp is repeated here (first regular, executable file); the real function then
 * searches again, so a file swapped in between is not seen (the shim is a guard against accidents, not a sandbox).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "shim-internal.h"

#define EG_MAX_PHDRS 256
#define EG_MAX_NOTE 1024
#define EG_MAX_NOTES 16
#define EG_MAX_SHDRS 4096
#define EG_MAX_SCRIPT_DEPTH 4
/* A `#!` line is at most 256 bytes for the kernel (BINPRM_BUF_SIZE), so is its interpreter's path. */
#define EG_INTERP_MAX 256
#define EG_MAX_EXECL_ARGS 8192 /* argv on the stack: 64 KiB at most */
#define EG_CGROUP_MAX 256       /* EGRESS_CGROUP's value, and the longest /proc/self/cgroup line compared */

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*posix_spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, char *const[], char *const[]);

static struct {
  execve_fn execve, execvpe;
  execv_fn execv, execvp;
  fexecve_fn fexecve;
  posix_spawn_fn posix_spawn, posix_spawnp;
  int allow;               /* EGRESS_ALLOW_UNCOVERED=1 */
  char cgroup[EG_CGROUP_MAX]; /* EGRESS_CGROUP at load time ("" when unset or too long) */
  unsigned char ei_class;  /* the shim's own ELF class and machine: the loader skips it for other programs */
  uint16_t machine;
  const char *self;        /* the shim's own path, as the loader found it in LD_PRELOAD */
} ex;

extern char **environ;

/* Resolves the real exec functions and reads the override, once (from eg_init, before any fork). */
void eg_exec_init(void) {
  ex.execve = (execve_fn)dlsym(RTLD_NEXT, "execve");
  ex.execvpe = (execve_fn)dlsym(RTLD_NEXT, "execvpe");
  ex.execv = (execv_fn)dlsym(RTLD_NEXT, "execv");
  ex.execvp = (execv_fn)dlsym(RTLD_NEXT, "execvp");
  ex.fexecve = (fexecve_fn)dlsym(RTLD_NEXT, "fexecve");
  ex.posix_spawn = (posix_spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
  ex.posix_spawnp = (posix_spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
  const char *allow = getenv("EGRESS_ALLOW_UNCOVERED");
  ex.allow = allow != NULL && strcmp(allow, "1") == 0;
  const char *cg = getenv("EGRESS_CGROUP");
  if (cg != NULL && cg[0] == '/' && strlen(cg) < sizeof ex.cgroup) memcpy(ex.cgroup, cg, strlen(cg) + 1);
  Dl_info self;
  if (dladdr((void *)&eg_exec_init, &self) != 0 && self.dli_fbase != NULL) {
    const unsigned char *ident = (const unsigned char *)self.dli_fbase;
    ex.ei_class = ident[EI_CLASS];
    if (self.dli_fname != NULL && self.dli_fname[0] == '/') ex.self = self.dli_fname;
    memcpy(&ex.machine, ident + 18, sizeof ex.machine); /* e_machine, in our own byte order */
  }
}

static int eg_pread_all(int fd, void *buf, size_t n, uint64_t off) {
  if (off > (uint64_t)INT64_MAX) return -1;
  ssize_t got = pread(fd, buf, n, (off_t)off);
  return got == (ssize_t)n ? 0 : -1;
}

/* Field readers for the target's byte order (le: little-endian); no shared state, so threads may exec at once. */
static uint16_t rd16(int le, const unsigned char *p) { return le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[1] | p[0] << 8); }
static uint32_t rd32(int le, const unsigned char *p) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}
static uint64_t rd64(int le, const unsigned char *p) { return le ? (uint64_t)rd32(le, p) | (uint64_t)rd32(le, p + 4) << 32 : (uint64_t)rd32(le, p + 4) | (uint64_t)rd32(le, p) << 32; }

/* Whether a buffer of notes holds Go's build-id note (name "Go", type 4). */
static int eg_go_note(int le, const unsigned char *n, size_t len) {
  size_t o = 0;
  while (o + 12 <= len) {
    uint32_t namesz = rd32(le, n + o), descsz = rd32(le, n + o + 4), type = rd32(le, n + o + 8);
    if (namesz == 4 && type == 4 && o + 16 <= len && memcmp(n + o + 12, "Go\0\0", 4) == 0) return 1;
    if (namesz > EG_MAX_NOTE || descsz > EG_MAX_NOTE) return 0;
    o += 12 + ((namesz + 3u) & ~3u) + ((descsz + 3u) & ~3u);
  }
  return 0;
}

/*
 * Inspects an open ELF file. Returns NULL when the shim covers it, else the reason. Sets *script_interp (a buffer of
 * EG_INTERP_MAX) when the file is a `#!` script, for the caller to inspect the interpreter instead.
 */
static const char *eg_inspect_fd(int fd, char *script_interp) {
  struct stat st;
  script_interp[0] = '\0';
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  unsigned char h[64];
  memset(h, 0, sizeof h);
  ssize_t got = pread(fd, h, sizeof h, 0);
  if (got >= 2 && h[0] == '#' && h[1] == '!') {
    char line[256];
    ssize_t n = pread(fd, line, sizeof line - 1, 2);
    if (n <= 0) return NULL;
    line[n] = '\0';
    size_t i = 0, j = 0;
    while (line[i] == ' ' || line[i] == '\t') i++;
    while (line[i] != '\0' && line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && j + 1 < EG_INTERP_MAX) script_interp[j++] = line[i++];
    script_interp[j] = '\0';
    return NULL; /* the kernel ignores setuid bits on scripts */
  }
  if (got < 52 || memcmp(h, ELFMAG, SELFMAG) != 0) return NULL; /* not ELF: the kernel refuses it or a binfmt handles it */
  if (h[EI_DATA] != ELFDATA2LSB && h[EI_DATA] != ELFDATA2MSB) return NULL;
  int le = h[EI_DATA] == ELFDATA2LSB;
  int is64 = h[EI_CLASS] == ELFCLASS64;
  if (is64 && got < 64) return NULL;
  uint16_t machine = rd16(le, h + 18);
  /* A setuid/setgid bit changes the effective id (secure-execution mode) unless it names our own real id. */
  if (((st.st_mode & S_ISUID) && st.st_uid != getuid()) || ((st.st_mode & S_ISGID) && st.st_gid != getgid())) return "setuid/setgid, so the loader drops LD_PRELOAD";
  /* File capabilities (ping's cap_net_raw): secure-execution mode too. */
  if (fgetxattr(fd, "security.capability", NULL, 0) > 0) return "a program with file capabilities, so the loader drops LD_PRELOAD";
  if (ex.ei_class != 0 && (h[EI_CLASS] != ex.ei_class || machine != ex.machine)) return "of another ELF class or machine than the shim, so the loader skips it";
  uint64_t phoff = is64 ? rd64(le, h + 32) : rd32(le, h + 28);
  uint64_t shoff = is64 ? rd64(le, h + 40) : rd32(le, h + 32);
  uint16_t phentsize = rd16(le, h + (is64 ? 54 : 42)), phnum = rd16(le, h + (is64 ? 56 : 44));
  uint16_t shentsize = rd16(le, h + (is64 ? 58 : 46)), shnum = rd16(le, h + (is64 ? 60 : 48)), shstrndx = rd16(le, h + (is64 ? 62 : 50));
  int interp = 0, go = 0, notes = 0;
  unsigned char ent[64];
  unsigned char nbuf[EG_MAX_NOTE];
  if (phnum <= EG_MAX_PHDRS && phentsize >= (is64 ? 56 : 32) && phentsize <= 1024) {
    for (uint16_t i = 0; i < phnum; i++) {
      size_t want = is64 ? 56 : 32;
      if (eg_pread_all(fd, ent, want, phoff + (uint64_t)i * phentsize) != 0) break;
      uint32_t type = rd32(le, ent);
      if (type == PT_INTERP) interp = 1;
      if (type == PT_NOTE && !go && notes++ < EG_MAX_NOTES) {
        uint64_t off = is64 ? rd64(le, ent + 8) : rd32(le, ent + 4);
        uint64_t size = is64 ? rd64(le, ent + 32) : rd32(le, ent + 16);
        size_t n = size < EG_MAX_NOTE ? (size_t)size : EG_MAX_NOTE;
        ssize_t r = off <= (uint64_t)INT64_MAX ? pread(fd, nbuf, n, (off_t)off) : -1;
        if (r > 0) go = eg_go_note(le, nbuf, (size_t)r);
      }
    }
  }
  if (!go && shnum > 0 && shnum <= EG_MAX_SHDRS && shstrndx < shnum && shentsize >= (is64 ? 64 : 40) && shentsize <= 1024) {
    size_t want = is64 ? 64 : 40;
    if (eg_pread_all(fd, ent, want, shoff + (uint64_t)shstrndx * shentsize) == 0) {
      uint64_t stroff = is64 ? rd64(le, ent + 24) : rd32(le, ent + 16);
      uint64_t strsize = is64 ? rd64(le, ent + 32) : rd32(le, ent + 20);
      static const char want_name[] = ".go.buildinfo"; /* with its NUL: 14 bytes */
      /* The name table, once, into the note buffer when it fits (the usual case); else one read per name. */
      size_t cached = 0;
      if (strsize > 0 && stroff <= (uint64_t)INT64_MAX) {
        ssize_t r = pread(fd, nbuf, strsize < EG_MAX_NOTE ? (size_t)strsize : EG_MAX_NOTE, (off_t)stroff);
        cached = r > 0 ? (size_t)r : 0;
      }
      for (uint16_t i = 0; !go && i < shnum; i++) {
        if (eg_pread_all(fd, ent, 4, shoff + (uint64_t)i * shentsize) != 0) break;
        uint32_t name = rd32(le, ent);
        if ((uint64_t)name + sizeof want_name > strsize) continue;
        if ((size_t)name + sizeof want_name <= cached) {
          go = memcmp(nbuf + name, want_name, sizeof want_name) == 0;
        } else {
          char nm[sizeof want_name];
          go = eg_pread_all(fd, nm, sizeof nm, stroff + name) == 0 && memcmp(nm, want_name, sizeof nm) == 0;
        }
      }
    }
  }
  if (go) return interp ? "a Go program (Go makes its own system calls, even when dynamically linked)" : "a statically linked Go program";
  if (!interp) return "statically linked";
  return NULL;
}

/* Inspects a path (following `#!` interpreters a few levels, like the kernel); NULL when covered or unreadable.
 * buf holds two interpreter paths (2 * EG_INTERP_MAX); *which is set to the file the reason is about. */
static const char *eg_inspect_path(const char *path, const char **which, char *buf) {
  const char *cur = path;
  char *next = buf;
  for (int depth = 0; depth < EG_MAX_SCRIPT_DEPTH; depth++) {
    int fd = open(cur, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return NULL; /* the exec itself reports why (ENOENT, EACCES) */
    const char *why = eg_inspect_fd(fd, next);
    close(fd);
    *which = cur;
    if (why != NULL || next[0] != '/') return why;
    cur = next;
    next = next == buf ? buf + EG_INTERP_MAX : buf;
  }
  return NULL;
}

/* One line on stderr (one writev, no buffer: small stack, safe after vfork): refused, or a warning that it leaks. */
static void eg_say(const char *path, const char *inspected, const char *why) {
  struct iovec v[8];
  int n = 0;
#define EG_PART(str) (v[n].iov_base = (void *)(str), v[n].iov_len = strlen(str), n++)
  EG_PART(ex.allow ? "egress: warning: starting " : "egress: refusing to start ");
  EG_PART(path);
  if (strcmp(path, inspected) != 0) {
    EG_PART(" (interpreter ");
    EG_PART(inspected);
    EG_PART(")");
  }
  EG_PART(": it is ");
  EG_PART(why);
  EG_PART(ex.allow ? "; its traffic does NOT go through the egress (exec --allow-uncovered)\n"
                   : "; the LD_PRELOAD shim cannot send its traffic through the egress. Use 'egress-client run' (or run-as) for it, or exec --allow-uncovered to start it anyway (it leaks)\n");
#undef EG_PART
  ssize_t w = writev(STDERR_FILENO, v, n);
  (void)w;
}

/* Whether an environment still preloads this shim (env -i, or a launcher clearing LD_PRELOAD, would start the next
 * program without it). Unknown own path: assume it does. */
static int eg_env_has_shim(char *const envp[]) {
  if (ex.self == NULL) return 1;
  size_t n = strlen(ex.self);
  for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
    if (strncmp(envp[i], "LD_PRELOAD=", 11) != 0) continue;
    for (const char *p = envp[i] + 11; (p = strstr(p, ex.self)) != NULL; p += n) {
      char before = p == envp[i] + 11 ? ':' : p[-1], after = p[n];
      if ((before == ':' || before == ' ') && (after == '\0' || after == ':' || after == ' ')) return 1;
    }
  }
  return 0;
}

/* The EGRESS_CGROUP the next program gets (envp's; else the one this process was started with), or NULL. */
static const char *eg_cgroup_var(char *const envp[]) {
  for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
    if (strncmp(envp[i], "EGRESS_CGROUP=", 14) == 0) return envp[i][14] == '/' && strlen(envp[i] + 14) < EG_CGROUP_MAX ? envp[i] + 14 : NULL;
  }
  return ex.cgroup[0] == '/' ? ex.cgroup : NULL;
}

/* Whether this process's cgroup2 path (the `0::` line of /proc/self/cgroup) is cg or below it: then the kernel selects
 * the traffic of whatever it starts. Reads the file in small pieces (no malloc: safe after vfork); fails closed. */
static int eg_in_cgroup(const char *cg) {
  size_t cglen = strlen(cg);
  while (cglen > 1 && cg[cglen - 1] == '/') cglen--;
  int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return 0;
  char buf[EG_CGROUP_MAX + 8];
  size_t have = 0;
  int skipping = 0, found = 0;
  for (;;) {
    ssize_t got = read(fd, buf + have, sizeof buf - have);
    if (got <= 0) break;
    have += (size_t)got;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      if (!skipping) {
        const char *line = buf + start;
        size_t len = i - start;
        if (len >= 3 + cglen && memcmp(line, "0::", 3) == 0 && memcmp(line + 3, cg, cglen) == 0 && (len == 3 + cglen || line[3 + cglen] == '/')) found = 1;
      }
      skipping = 0;
      start = i + 1;
    }
    if (start == 0 && have == sizeof buf) {
      skipping = 1; /* a line longer than any we compare: skip to its end */
      have = 0;
    } else {
      memmove(buf, buf + start, have - start);
      have -= start;
    }
    if (found) break;
  }
  close(fd);
  return found;
}

/* Whether the egress's cgroup covers the next program (placed by the supervisor; see the top of this file). */
static int eg_placed(char *const envp[]) {
  const char *cg = eg_cgroup_var(envp);
  return cg != NULL && eg_in_cgroup(cg);
}

/* 0 when path may be executed with envp; -1 (EACCES) when refused. Keeps errno otherwise. */
static int eg_guard(const char *path, char *const envp[]) {
  if (path == NULL || path[0] == '\0') return 0;
  int saved = errno;
  char buf[2 * EG_INTERP_MAX];
  const char *which = path;
  const char *why = eg_inspect_path(path, &which, buf);
  /* Only for a program that exists (open worked): the exec itself reports ENOENT/EACCES otherwise. */
  if (why == NULL && !eg_env_has_shim(envp) && access(path, F_OK) == 0) {
    why = "about to start without the egress's LD_PRELOAD in its environment (env -i, or a launcher that clears it), so the shim would not load";
  }
  if (why == NULL || eg_placed(envp)) {
    errno = saved;
    return 0;
  }
  eg_say(path, which, why);
  errno = saved;
  return ex.allow ? 0 : -1;
}

/* The file execvp/posix_spawnp would run: file itself when it has a '/', else the first executable regular file on PATH. */
static const char *eg_search(const char *file, char *out) {
  if (file == NULL || file[0] == '\0') return NULL;
  if (strchr(file, '/') != NULL) return file;
  const char *p = getenv("PATH");
  if (p == NULL) p = "/bin:/usr/bin";
  size_t flen = strlen(file);
  for (;;) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    if (dlen + 1 + flen < PATH_MAX) {
      size_t n = 0;
      if (dlen == 0) out[n++] = '.';
      memcpy(out + n, p, dlen);
      n += dlen;
      out[n++] = '/';
      memcpy(out + n, file, flen + 1);
      struct stat st;
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0) return out;
    }
    if (end == NULL) return NULL;
    p = end + 1;
  }
}

static int eg_guard_search(const char *file, char *const envp[]) {
  int saved = errno;
  char found[PATH_MAX];
  const char *path = eg_search(file, found);
  errno = saved;
  return path == NULL ? 0 : eg_guard(path, envp);
}

static int eg_refused(void) {
  errno = EACCES;
  return -1;
}

static int eg_missing(void) {
  errno = ENOSYS;
  return -1;
}

EG_EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
  if (eg_guard(path, envp) != 0) return eg_refused();
  return ex.execve ? ex.execve(path, argv, envp) : eg_missing();
}

EG_EXPORT int execv(const char *path, char *const argv[]) {
  if (eg_guard(path, environ) != 0) return eg_refused();
  return ex.execv ? ex.execv(path, argv) : eg_missing();
}

EG_EXPORT int execvp(const char *file, char *const argv[]) {
  if (eg_guard_search(file, environ) != 0) return eg_refused();
  return ex.execvp ? ex.execvp(file, argv) : eg_missing();
}

EG_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  if (eg_guard_search(file, envp) != 0) return eg_refused();
  return ex.execvpe ? ex.execvpe(file, argv, envp) : eg_missing();
}

EG_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  int saved = errno;
  char interp[EG_INTERP_MAX];
  const char *why = eg_inspect_fd(fd, interp);
  if (why == NULL && interp[0] == '/') {
    char buf[2 * EG_INTERP_MAX];
    const char *which = interp;
    why = eg_inspect_path(interp, &which, buf);
  }
  if (why == NULL && !eg_env_has_shim(envp)) why = "about to start without the egress's LD_PRELOAD in its environment (env -i, or a launcher that clears it), so the shim would not load";
  if (why != NULL && eg_placed(envp)) why = NULL;
  errno = saved;
  if (why != NULL) {
    eg_say("(file descriptor)", "(file descriptor)", why);
    if (!ex.allow) return eg_refused();
  }
  return ex.fexecve ? ex.fexecve(fd, argv, envp) : eg_missing();
}

EG_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  if (eg_guard(path, envp) != 0) return EACCES; /* a NULL envp is an empty environment */
  return ex.posix_spawn ? ex.posix_spawn(pid, path, fa, attr, argv, envp) : ENOSYS;
}

EG_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
  if (eg_guard_search(file, envp) != 0) return EACCES;
  return ex.posix_spawnp ? ex.posix_spawnp(pid, file, fa, attr, argv, envp) : ENOSYS;
}

/* Counts execl's arguments after arg (up to the NULL); -1 when there are too many. */
static long eg_count_args(const char *arg, va_list ap) {
  long n = 1;
  if (arg == NULL) return 0;
  while (va_arg(ap, const char *) != NULL) {
    if (++n > EG_MAX_EXECL_ARGS) return -1;
  }
  return n;
}

/* Builds execl's argv on the stack and calls `call` (0 execv, 1 execvp, 2 execve with the envp after the NULL). */
#define EG_EXECL(kind, first, path)                                  \
  do {                                                              \
    va_list ap, ap2;                                                \
    va_start(ap, first);                                            \
    va_copy(ap2, ap);                                               \
    long n = eg_count_args(first, ap);                              \
    va_end(ap);                                                     \
    if (n < 0) {                                                    \
      va_end(ap2);                                                  \
      errno = E2BIG;                                                \
      return -1;                                                    \
    }                                                               \
    char *argv[n + 1];                                              \
    argv[0] = (char *)first;                                        \
    for (long i = 1; i < n; i++) argv[i] = va_arg(ap2, char *);     \
    if (n > 0) (void)va_arg(ap2, char *); /* the NULL */            \
    argv[n] = NULL;                                                 \
    char *const *envp = kind == 2 ? va_arg(ap2, char *const *) : NULL; \
    va_end(ap2);                                                    \
    if (kind == 0) return execv(path, argv);                        \
    if (kind == 1) return execvp(path, argv);                       \
    return execve(path, argv, envp);                                \
  } while (0)

EG_EXPORT int execl(const char *path, const char *arg, ...) { EG_EXECL(0, arg, path); }
EG_EXPORT int execlp(const char *file, const char *arg, ...) { EG_EXECL(1, arg, file); }
EG_EXPORT int execle(const char *path, const char *arg, ...) { EG_EXECL(2, arg, path); }
