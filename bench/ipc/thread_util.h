// Linux thread helpers for the IPC bench: which threads a process has, CPU time of one thread (by kernel tid, so
// that a thread the bench did not create, like IpcServer's loop, can be measured), names and CPU pinning.
#pragma once

#include <dirent.h>
#include <sched.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace oa::bench {

// Kernel thread ids of this process.
inline std::set<pid_t> ListTasks() {
  std::set<pid_t> tids;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') tids.insert(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    ::closedir(d);
  }
  return tids;
}

inline bool SetTaskName(pid_t tid, const char* name) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/comm";
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fputs(name, f) >= 0;
  return std::fclose(f) == 0 && ok;
}

struct ThreadCpu {
  std::int64_t ns = 0;           // user+sys, ns resolution: the thread's CPU clock (the scheduler's runtime)
  std::int64_t user_ticks = 0;   // /proc/self/task/<tid>/stat utime (clock ticks): for the user/sys split only
  std::int64_t sys_ticks = 0;    // ... stime
  ThreadCpu operator-(const ThreadCpu& o) const { return {ns - o.ns, user_ticks - o.user_ticks, sys_ticks - o.sys_ticks}; }
  ThreadCpu& operator+=(const ThreadCpu& o) {
    ns += o.ns;
    user_ticks += o.user_ticks;
    sys_ticks += o.sys_ticks;
    return *this;
  }
  // Share of the time spent in the kernel, from the tick-sampled split (-1 if no tick was seen).
  double sys_share() const {
    const auto t = user_ticks + sys_ticks;
    return t > 0 ? static_cast<double>(sys_ticks) / static_cast<double>(t) : -1;
  }
};

// CPU time of thread `tid` of this process. The clock id is the kernel's per-thread CPU clock for a tid, as glibc's
// pthread_getcpuclockid builds it (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)); the same sum as utime+stime in
// /proc/self/task/<tid>/stat, without the 10 ms tick granularity.
inline ThreadCpu ReadThreadCpu(pid_t tid) {
  ThreadCpu c;
  const auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
  timespec ts{};
  if (::clock_gettime(clock, &ts) == 0) c.ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after "(comm)": 3 state ... 14 utime 15 stime.
    if (const char* p = std::strrchr(buf, ')')) {
      // Move to the space before field 14 (utime); fields 3 (state) to 13 (cmajflt) have no spaces.
      for (int field = 3; field <= 14 && p != nullptr; ++field) p = std::strchr(p + 1, ' ');
      if (p != nullptr) {
        char* end = nullptr;
        const long long utime = std::strtoll(p, &end, 10);
        const long long stime = std::strtoll(end, nullptr, 10);
        c.user_ticks = utime;
        c.sys_ticks = stime;
        if (c.ns == 0) c.ns = (utime + stime) * (1'000'000'000LL / ::sysconf(_SC_CLK_TCK));
      }
    }
  }
  return c;
}

inline ThreadCpu ReadSelfThreadCpu() { return ReadThreadCpu(::gettid()); }

// CPUs this process may run on.
inline std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  }
  return cpus;
}

// Pins thread `tid` (0: the calling thread; threads it creates later inherit the mask) to one CPU.
inline bool PinToCpu(pid_t tid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(tid, sizeof(set), &set) == 0;
}

// The one CPU a thread is pinned to, or -1 if its mask allows several.
inline int PinnedCpu(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(tid, sizeof(set), &set) != 0 || CPU_COUNT(&set) != 1) return -1;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) return i;
  }
  return -1;
}

}  // namespace oa::bench
