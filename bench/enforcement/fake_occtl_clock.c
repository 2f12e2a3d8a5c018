/* A stand-in for occtl for the revocation-latency benchmark: the first thing it does is read CLOCK_REALTIME, then
 * it appends "<last argument> <nanoseconds since the epoch>\n" to "<argv[0]>.starts" (the agent runs occtl with a
 * cleared environment, so a sibling file is the channel) in one O_APPEND write (concurrent runs do not interleave),
 * prints what occtl prints and exits 0. For `disconnect id N` the last argument is the session id N.
 * Dynamically linked on purpose, like Debian's occtl: its start-up cost is part of what is measured after it. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char path[4096];
  if (snprintf(path, sizeof(path), "%s.starts", argv[0]) >= (int)sizeof(path)) return 2;
  char line[512];
  const int n = snprintf(line, sizeof(line), "%s %lld\n", argc > 1 ? argv[argc - 1] : "-",
                         (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
  const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || n <= 0 || n >= (int)sizeof(line) || write(fd, line, (size_t)n) != n) return 3;
  close(fd);
  if (argc > 2 && strcmp(argv[argc - 2], "id") == 0) puts("disconnected");
  return 0;
}
