// FullDescriptorTable: fills this process's descriptor table — the soft RLIMIT_NOFILE lowered to at most 512, every
// free slot then taken by /dev/null — so that the next accept() fails with EMFILE, as under a connection flood.
// Release() (or the destructor) closes them and restores the limit. For the tests of the accept loops' back-off;
// make every socket the test needs before filling. Not thread-safe: one per process at a time.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace oa::testing {

class FullDescriptorTable {
 public:
  FullDescriptorTable() {
    if (::getrlimit(RLIMIT_NOFILE, &saved_) != 0) return;
    rlimit low = saved_;
    low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, 512);
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) return;
    lowered_ = true;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler_.push_back(fd);
    full_ = errno == EMFILE;
  }
  ~FullDescriptorTable() { Release(); }
  FullDescriptorTable(const FullDescriptorTable&) = delete;
  FullDescriptorTable& operator=(const FullDescriptorTable&) = delete;

  // True once every slot is taken (the last open() failed with EMFILE).
  bool full() const { return full_; }

  void Release() {
    for (int fd : filler_) ::close(fd);
    filler_.clear();
    if (lowered_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    lowered_ = full_ = false;
  }

 private:
  rlimit saved_{};
  bool lowered_ = false;
  bool full_ = false;
  std::vector<int> filler_;
};

}  // namespace oa::testing
