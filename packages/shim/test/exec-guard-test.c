/*
 * Drives one function of the execve family on a program, for exec-guard.test.ts (run with the shim preloaded).
 * Usage: exec-guard-test API PROGRAM — API is execve, execv, execvp, execvpe, execl, execlp, execle, fexecve,
 * posix_spawn or posix_spawnp. Prints "refused errno=N" (exit 3) when the call fails, "spawned status=N" after a
 * posix_spawn child ends; a successful exec* becomes PROGRAM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: exec-guard-test API PROGRAM\n");
    return 2;
  }
  const char *api = argv[1], *prog = argv[2];
  char *args[] = {(char *)prog, NULL};
  int rc = -1;
  if (strcmp(api, "execve") == 0) rc = execve(prog, args, environ);
  else if (strcmp(api, "execv") == 0) rc = execv(prog, args);
  else if (strcmp(api, "execvp") == 0) rc = execvp(prog, args);
  else if (strcmp(api, "execvpe") == 0) rc = execvpe(prog, args, environ);
  else if (strcmp(api, "execl") == 0) rc = execl(prog, prog, (char *)NULL);
  else if (strcmp(api, "execlp") == 0) rc = execlp(prog, prog, (char *)NULL);
  else if (strcmp(api, "execle") == 0) rc = execle(prog, prog, (char *)NULL, environ);
  else if (strcmp(api, "fexecve") == 0) {
    int fd = open(prog, O_RDONLY); /* not O_CLOEXEC: a script's interpreter opens /dev/fd/N */
    if (fd < 0) {
      printf("open failed errno=%d\n", errno);
      return 4;
    }
    rc = fexecve(fd, args, environ);
  } else if (strcmp(api, "posix_spawn") == 0 || strcmp(api, "posix_spawnp") == 0) {
    pid_t pid;
    int err = api[11] == 'p' ? posix_spawnp(&pid, prog, NULL, NULL, args, environ) : posix_spawn(&pid, prog, NULL, NULL, args, environ);
    if (err != 0) {
      printf("refused errno=%d\n", err);
      return 3;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("spawned status=%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return 0;
  } else {
    fprintf(stderr, "unknown API %s\n", api);
    return 2;
  }
  printf("refused errno=%d\n", rc == -1 ? errno : 0);
  return 3;
}
