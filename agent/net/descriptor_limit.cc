#include "agent/net/descriptor_limit.h"

#include <errno.h>
#include <sys/resource.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace oa {

absl::StatusOr<DescriptorLimit> RaiseDescriptorLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return absl::InternalError(absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  DescriptorLimit out{lim.rlim_cur, lim.rlim_max, false};
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      out.soft = raised.rlim_cur;
      out.raised = true;
    }
  }
  return out;
}

}  // namespace oa
